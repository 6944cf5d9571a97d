package procmon

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadResult is what a bounded load loop saw.
type loadResult struct {
	mu      sync.Mutex
	ok      int
	failed  int
	errs    []string
	workers map[string]int // X-Worker label → responses
}

func (r *loadResult) add(code int, worker, body string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.fail(err.Error())
	case code != http.StatusOK:
		r.fail(fmt.Sprintf("status %d: %q", code, body))
	case !strings.HasPrefix(worker, "gen=") || !strings.Contains(body, worker):
		r.fail(fmt.Sprintf("response not from a worker: header %q body %q", worker, body))
	default:
		r.ok++
		r.workers[worker]++
	}
}

func (r *loadResult) fail(msg string) {
	r.failed++
	if len(r.errs) < 10 {
		r.errs = append(r.errs, msg)
	}
}

// generations lists the distinct generations that answered.
func (r *loadResult) generations() map[string]bool {
	gens := map[string]bool{}
	for w := range r.workers {
		gens[strings.Fields(w)[0]] = true
	}
	return gens
}

// startLoad runs clients keep-alive GET loops plus one Connection: close
// loop against url until stop is closed, maxRequests were sent, or
// maxTime passed. wait returns the result.
func startLoad(url string, clients, maxRequests int, maxTime time.Duration) (stop func() *loadResult) {
	res := &loadResult{workers: map[string]int{}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var sent sync.Mutex
	count := 0
	deadline := time.Now().Add(maxTime)
	keepAlive := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	closing := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range clients + 1 {
		client := keepAlive
		if i == clients {
			client = closing
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				sent.Lock()
				count++
				over := count > maxRequests
				sent.Unlock()
				if over || time.Now().After(deadline) {
					return
				}
				code, worker, body, err := get(client, url)
				if err != nil && client == closing {
					err = fmt.Errorf("connection: close client: %w", err)
				}
				res.add(code, worker, body, err)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return func() *loadResult {
		close(done)
		wg.Wait()
		keepAlive.CloseIdleConnections()
		return res
	}
}

// TestZeroFailedRequestsAcrossReloads is the end-to-end proof: real HTTP
// load while the restart file is touched again and again, in proxy and in
// socket mode; no request fails, every answer comes from a worker, and a
// long request in flight at the switch completes.
func TestZeroFailedRequestsAcrossReloads(t *testing.T) {
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		t.Run(string(mode), func(t *testing.T) {
			a := newTestApp(t, appSpec{mode: mode, env: map[string]string{"PMT_BOOT_DELAY": "200ms"}}).start()
			stop := startLoad(a.url("/"), 6, 200000, 90*time.Second)

			long := make(chan string, 1)
			go func() {
				code, worker, _, err := get(&http.Client{Timeout: 30 * time.Second}, a.url("/slow?d=2s"))
				long <- fmt.Sprintf("%d %s %v", code, worker, err)
			}()
			time.Sleep(300 * time.Millisecond) // the long request is in flight on generation 1
			const reloads = 4
			for i := 1; i <= reloads; i++ {
				a.touch()
				st := a.waitStatus(30*time.Second, fmt.Sprintf("reload %d", i), func(st Status) bool { return st.Reloads >= i && st.State == StateReady })
				if !st.LastReload.OK {
					t.Fatalf("reload %d failed: %+v", i, st.LastReload)
				}
				time.Sleep(200 * time.Millisecond)
			}
			res := stop()
			if got := <-long; !strings.HasPrefix(got, "200 gen=1 ") {
				t.Errorf("long request across the switch: got %q, want 200 from generation 1", got)
			}
			t.Logf("%d requests ok, %d failed, answered by %d workers of %d generations", res.ok, res.failed, len(res.workers), len(res.generations()))
			if res.failed != 0 {
				t.Fatalf("%d requests failed, first: %q", res.failed, res.errs)
			}
			if res.ok < 50 || len(res.generations()) < 3 {
				t.Fatalf("load too thin to prove anything: %d ok over generations %v", res.ok, res.generations())
			}
			if st := a.sup.Status(); st.Generation != reloads+1 {
				t.Fatalf("generation %d, want %d", st.Generation, reloads+1)
			}
		})
	}
}
