package procmon

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// The scaling benchmarks time what issue 17 promises against what the
// worker itself costs: the first byte of a request that wakes an idle app
// (workers = "0..1"), next to the worker's own start, and the time from a
// load step to an added worker serving (workers = "1..2"). They run the
// built procmon binary over the test binary as worker, like the others.

// scaleApp is a procmon binary running a scaling config.
type scaleApp struct {
	addr   string
	client *control.Client
	stop   func()
}

// startScaleApp runs procmon with workers (a range) and [scale] extra.
func (e *benchEnv) startScaleApp(name string, mode Mode, workers string, knobs map[string]string, extra string) *scaleApp {
	b := e.b
	addr := benchPort(b)
	env := mergeEnv(map[string]string{"PMT_WORKER": "1"}, knobs)
	var vars []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		vars = append(vars, fmt.Sprintf("%s = %q", k, env[k]))
	}
	sock := filepath.Join(e.root, name+".sock")
	doc := fmt.Sprintf("name = %q\ndir = %q\ncommand = [%q]\nworkers = %q\nlisten = %q\nmode = %q\nenv = { %s }\nstop_timeout = \"10s\"\nsocket = %q\n%s",
		name, filepath.Join(e.root, "app"), e.exe, workers, addr, mode, strings.Join(vars, ", "), sock, extra)
	cfg := filepath.Join(e.root, name+".toml")
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(e.procmon, "run", "-c", cfg)
	logf, _ := os.Create(filepath.Join(e.root, name+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	a := &scaleApp{addr: addr, client: control.NewClient(sock), stop: func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		logf.Close()
	}}
	b.Cleanup(a.stop)
	a.waitStatus(b, "procmon up", func(control.Status) bool { return true })
	return a
}

// waitStatus polls procmon's status until ok, at most 30 s.
func (a *scaleApp) waitStatus(b *testing.B, what string, ok func(control.Status) bool) control.Status {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := a.client.Status(ctx)
		cancel()
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: timed out waiting for %s: %+v %v", a.addr, what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitIdle waits for the idle state with every worker process gone.
func (a *scaleApp) waitIdle(b *testing.B) {
	a.waitStatus(b, "idle, no worker left", func(st control.Status) bool { return st.State == control.StateIdle && len(st.Workers) == 0 })
}

// firstByte times one fresh-connection GET to its answer's head.
func firstByte(b *testing.B, url string) time.Duration {
	b.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get(url)
	took := time.Since(start)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return took
}

// ownStart is the worker's own start time: from exec to the first byte
// of its answer to a GET on its port, tried every millisecond.
func (e *benchEnv) ownStart(knobs map[string]string) time.Duration {
	b := e.b
	addr := benchPort(b)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(e.exe)
	cmd.Dir = filepath.Join(e.root, "app")
	cmd.Env = append(os.Environ(), "PMT_WORKER=1", "PORT="+port, "WORKER_ID=1", "PROCMON_GENERATION=1")
	for _, k := range slices.Sorted(maps.Keys(knobs)) {
		cmd.Env = append(cmd.Env, k+"="+knobs[k])
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	for deadline := start.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			continue
		}
		took := time.Since(start)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return took
		}
	}
	b.Fatalf("the worker on %s never answered", addr)
	return 0
}

// BenchmarkWakeFromIdle times the first byte of a request that wakes an
// idle app (workers = "0..1", proxy and socket mode) next to the worker's
// own start (exec to first byte on its own port), for a worker that
// starts at once and one that boots for 300 ms. The three are alternated,
// their order rotating each round; the ratio wake / own start is taken
// per round and reported with its spread.
func BenchmarkWakeFromIdle(b *testing.B) {
	e := newBenchEnv(b)
	const rounds = 7
	modes := []Mode{ModeProxy, ModeSocket}
	var sb strings.Builder
	for _, sc := range []struct {
		name  string
		knobs map[string]string
	}{{"hello", nil}, {"boot300ms", map[string]string{"PMT_BOOT_DELAY": "300ms"}}} {
		apps := map[Mode]*scaleApp{}
		for _, mode := range modes {
			apps[mode] = e.startScaleApp(sc.name+"-"+string(mode), mode, "0..1", sc.knobs, "[scale]\nidle_timeout = \"1s\"\n")
			apps[mode].waitIdle(b)
		}
		own, wake, ratio := []float64{}, map[Mode][]float64{}, map[Mode][]float64{}
		for r := range rounds {
			took := map[string]time.Duration{}
			order := []string{"own", string(ModeProxy), string(ModeSocket)}
			for i := range order {
				what := order[(i+r)%len(order)]
				if what == "own" {
					took[what] = e.ownStart(sc.knobs)
					continue
				}
				a := apps[Mode(what)]
				took[what] = firstByte(b, "http://"+a.addr+"/")
				a.waitIdle(b)
			}
			own = append(own, ms(took["own"]))
			for _, mode := range modes {
				wake[mode] = append(wake[mode], ms(took[string(mode)]))
				ratio[mode] = append(ratio[mode], float64(took[string(mode)])/float64(took["own"]))
			}
		}
		for _, a := range apps {
			a.stop()
		}
		fmt.Fprintf(&sb, "%-9s worker's own start %7.1f ms (%s)\n", sc.name, median(own), spread(own, "%.1f"))
		b.ReportMetric(median(own), sc.name+"-own-start-ms")
		for _, mode := range modes {
			fmt.Fprintf(&sb, "%-9s %-6s wake, first byte %6.1f ms (%s)  ratio to own start %.2f (%s)\n",
				sc.name, mode, median(wake[mode]), spread(wake[mode], "%.1f"), median(ratio[mode]), spread(ratio[mode], "%.2f"))
			b.ReportMetric(median(wake[mode]), sc.name+"-"+string(mode)+"-wake-ms")
			b.ReportMetric(median(ratio[mode]), sc.name+"-"+string(mode)+"-wake/own")
			b.ReportMetric(slices.Min(ratio[mode]), sc.name+"-"+string(mode)+"-wake/own-min")
			b.ReportMetric(slices.Max(ratio[mode]), sc.name+"-"+string(mode)+"-wake/own-max")
		}
	}
	fmt.Printf("\nfirst byte of a request that wakes an idle app (workers = \"0..1\"), median of %d rounds (min–max):\n%s", rounds, sb.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkAutoscaleStep times a load step on workers = "1..2" (proxy
// mode; up_inflight 2, window 1s, cooldown 500ms) to the first answer of
// the added worker: the window, then the decision, the start and the
// readiness check. Each round steps from no load to 8 clients of 50 ms
// requests (4 per worker after the step), bounded in count and time, and
// waits for the count to come back to 1.
func BenchmarkAutoscaleStep(b *testing.B) {
	e := newBenchEnv(b)
	const rounds, window = 5, time.Second
	a := e.startScaleApp("step", ModeProxy, "1..2", nil,
		fmt.Sprintf("[scale]\nup_inflight = 2\ndown_inflight = 0.5\nwindow = %q\ncooldown = \"500ms\"\n", window))
	var steps, own []float64
	for range rounds {
		a.waitStatus(b, "one worker", func(st control.Status) bool {
			return st.Scale != nil && st.Scale.Workers == 1 && len(st.Workers) == 1 && st.Workers[0].State == control.StateReady
		})
		own = append(own, ms(e.ownStart(nil)))
		start := time.Now()
		served := stepLoad(b, "http://"+a.addr+"/slow?d=50ms", 8, 5000, 30*time.Second)
		steps = append(steps, ms(served.Sub(start)))
		a.waitStatus(b, "back to one worker", func(st control.Status) bool { return st.Scale != nil && st.Scale.Workers == 1 })
	}
	a.stop()
	beyond := make([]float64, len(steps))
	for i, s := range steps {
		beyond[i] = s - ms(window)
	}
	fmt.Printf("\nload step to the added worker's first answer (workers = \"1..2\", window %s), median of %d rounds (min–max):\n"+
		"step → worker 2 serving %7.1f ms (%s)\nof which past the window %7.1f ms (%s)\nworker's own start      %7.1f ms (%s)\n",
		window, rounds, median(steps), spread(steps, "%.0f"), median(beyond), spread(beyond, "%.0f"), median(own), spread(own, "%.1f"))
	b.ReportMetric(median(steps), "step-to-serving-ms")
	b.ReportMetric(median(beyond), "past-window-ms")
	b.ReportMetric(median(own), "own-start-ms")
}

// stepLoad runs clients keep-alive GET loops on url from now on and
// returns when the first answer of worker 2 came; it stops the loops
// then, or fails after maxRequests or maxTime.
func stepLoad(b *testing.B, url string, clients, maxRequests int, maxTime time.Duration) time.Time {
	b.Helper()
	var (
		sent  atomic.Int64
		once  sync.Once
		first = make(chan time.Time, 1)
		done  = make(chan struct{})
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(maxTime)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= int64(maxRequests) && time.Now().Before(deadline) {
				select {
				case <-done:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if strings.Contains(resp.Header.Get("X-Worker"), " worker=2 ") {
					once.Do(func() { first <- time.Now() })
				}
			}
		}()
	}
	var at time.Time
	select {
	case at = <-first:
	case <-time.After(time.Until(deadline)):
	}
	close(done)
	wg.Wait()
	client.CloseIdleConnections()
	if at.IsZero() {
		select {
		case at = <-first:
		default:
			b.Fatalf("worker 2 never answered within %d requests or %s", maxRequests, maxTime)
		}
	}
	return at
}
