package procmon

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIdleSocketAppWakesOnConnection: workers = "0..2" in socket mode
// starts idle (no worker, nothing accepting); connections are held in
// the backlog while the workers start, then served, several at once;
// after idle_timeout without connections every worker stops again; a
// wake whose workers crash at boot gives 503 after ready.timeout, not a
// hang, then 503 at once for another ready.timeout, and the next
// connection after that wakes the app again.
func TestIdleSocketAppWakesOnConnection(t *testing.T) {
	a := newTestApp(t, appSpec{mode: ModeSocket, scaleTo: "0..2", env: map[string]string{"PMT_BOOT_DELAY": "300ms"},
		backoff: Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond},
		extra:   "\n[scale]\nidle_timeout = \"1s\"\n[ready]\ntimeout = \"3s\"\n"})
	a.launch()
	a.waitIdleAndGone()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	for round := 1; round <= 2; round++ {
		start := time.Now()
		codes := make(chan string, 4)
		var wg sync.WaitGroup
		for range round * 2 { // 2 connections, then 4, all queued while idle
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, worker, body, err := get(client, a.url("/"))
				if err != nil || code != 200 || !strings.Contains(body, worker) || !strings.HasPrefix(worker, "gen=1 ") {
					t.Errorf("round %d: %d %q %q %v", round, code, worker, body, err)
				}
				codes <- worker
			}()
		}
		wg.Wait()
		took := time.Since(start)
		if t.Failed() {
			t.FailNow()
		}
		if took < 300*time.Millisecond {
			t.Fatalf("round %d: answered in %s, before a worker could boot: not held?", round, took)
		}
		t.Logf("round %d: %d connections to the idle app answered within %s", round, round*2, took)
		st := a.sup.Status()
		if ev := st.Scale.Last; ev.From != 0 || ev.To != 2 || ev.Reason != "a connection woke the idle app" || st.Totals.Wakeups != round {
			t.Fatalf("round %d: last scale event %+v, %d wake-ups", round, ev, st.Totals.Wakeups)
		}
		st = a.waitIdleAndGone()
		if ev := st.Scale.Last; ev.To != 0 || !strings.Contains(ev.Reason, "no connection for 1s: idle") {
			t.Fatalf("round %d: idle again, but last scale event %+v", round, ev)
		}
	}

	crash := filepath.Join(a.release, "crash")
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, body, err := get(client, a.url("/"))
	took := time.Since(start)
	if err != nil || code != 503 || body != wakeFailedBody+"\n" || took < 3*time.Second || took > 10*time.Second {
		t.Fatalf("wake with workers that cannot start: %d %q %v after %s", code, body, err, took)
	}
	st := a.waitStatus(10*time.Second, "the wake failure counted", func(st Status) bool { return st.Totals.WakeFailures == 1 })
	if ev := st.Scale.Last; ev.To != 0 || !strings.Contains(ev.Reason, "after a wake: idle again") ||
		!strings.Contains(a.out.String(), "no worker was ready within ready.timeout; procmon stops them and answers 503") {
		t.Fatalf("last scale event %+v; no log line says why:\n%s", ev, a.out)
	}
	os.Remove(crash)
	start = time.Now() // within the pause: answered at once, not held
	if code, _, body, err := get(client, a.url("/")); code != 503 || body != wakeFailedBody+"\n" || time.Since(start) > 2*time.Second {
		t.Fatalf("during the pause after a failed wake: %d %q %v after %s", code, body, err, time.Since(start))
	}
	// After the pause the next connection wakes the app again, and the
	// release (fixed now) serves it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, worker, body, err := get(client, a.url("/"))
		if code == 200 && strings.HasPrefix(worker, "gen=1 ") {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("after the pause: %d %q %q %v", code, worker, body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := a.sup.Status(); st.Totals.Wakeups != 4 || st.Totals.WakeFailures != 1 {
		t.Fatalf("wake-ups %d, failures %d", st.Totals.Wakeups, st.Totals.WakeFailures)
	}
}

// waitIdleAndGone waits for the idle state and for the stopped workers
// to be gone: until then they may still accept a connection and serve it.
func (a *testApp) waitIdleAndGone() Status {
	a.t.Helper()
	return a.waitStatus(20*time.Second, "idle, every worker gone", func(st Status) bool {
		_, alive := servingWorkers(st)
		return st.State == StateIdle && alive == 0
	})
}
