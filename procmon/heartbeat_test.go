package procmon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hbExtra is the [heartbeat] of these tests: quick checks, short guard,
// and a stop_timeout short enough that a hung worker is gone soon.
func hbExtra(guard string) string {
	return "stop_timeout = \"5s\"\n[heartbeat]\ninterval = \"200ms\"\ntimeout = \"500ms\"\nguard = \"" + guard + "\"\n"
}

// hangWorker sends SIGUSR1: the test worker stops answering (see testWorker).
func hangWorker(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatalf("hang worker %d: %v", pid, err)
	}
}

// servingPIDs maps WORKER_ID to the pid of the serving generation's worker.
func servingPIDs(st Status) map[int]int {
	pids := map[int]int{}
	for _, w := range st.Workers {
		if w.Generation == st.Generation && w.State == WorkerReady {
			pids[w.ID] = w.PID
		}
	}
	return pids
}

// userLoad is a bounded loop of user requests: clients goroutines send
// GETs with a short timeout until stop, max requests, or maxTime.
type userLoad struct {
	mu     sync.Mutex
	ok     int
	failed []string
	by     map[string]int // X-Worker → answers
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startUserLoad(url string, clients, max int, maxTime time.Duration) *userLoad {
	return runUserLoad(&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}, url, clients, max, maxTime)
}

// startFreshLoad is startUserLoad with a new connection per request.
func startFreshLoad(url string, clients, max int, maxTime time.Duration) *userLoad {
	return runUserLoad(&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, url, clients, max, maxTime)
}

func runUserLoad(client *http.Client, url string, clients, max int, maxTime time.Duration) *userLoad {
	l := &userLoad{by: map[string]int{}, stop: make(chan struct{})}
	deadline := time.Now().Add(maxTime)
	n := 0
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				l.mu.Lock()
				n++
				over := n > max
				l.mu.Unlock()
				select {
				case <-l.stop:
					return
				default:
				}
				if over || time.Now().After(deadline) {
					return
				}
				code, worker, body, err := get(client, url)
				l.mu.Lock()
				if err == nil && code == http.StatusOK && strings.Contains(body, worker) {
					l.ok++
					l.by[worker]++
				} else if len(l.failed) < 1000 {
					l.failed = append(l.failed, strings.TrimSpace(worker+" "+body+" "+errText(err)))
				}
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// wait waits until the loop sent its requests or ran out of time.
func (l *userLoad) wait() *userLoad {
	l.wg.Wait()
	return l
}

// end stops the loop early and waits for its requests to end.
func (l *userLoad) end() *userLoad {
	close(l.stop)
	return l.wait()
}

// TestHeartbeatReplacesOnlyTheHungWorker is issue 11, item 4: with one of
// two workers hung, a check through the balancer passed (the balancer
// steers around the worker whose requests are stuck) while users' requests
// timed out. Each worker is now checked on its own port, and the hung one
// alone is replaced: the other keeps its pid, no reload happens, and user
// requests succeed once the hung worker is out of the balancer.
func TestHeartbeatReplacesOnlyTheHungWorker(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 2, extra: hbExtra("1s")}).start()
	st := a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
	before := servingPIDs(st)
	if len(before) != 2 {
		t.Fatalf("serving workers %v, want 2", before)
	}
	hungAt := time.Now()
	hangWorker(t, before[2])
	// Users keep sending requests: some land on the hung worker and stay
	// stuck there, which is what made the balancer avoid it.
	during := startUserLoad(a.url("/"), 4, 400, 15*time.Second)
	st = a.waitStatus(12*time.Second, "worker 2 replaced", func(st Status) bool {
		now := servingPIDs(st)
		return now[2] != 0 && now[2] != before[2] || st.Reloads > 0
	})
	during.end()
	if st.Reloads != 0 || st.Generation != 1 {
		t.Fatalf("the heartbeat reloaded (reloads %d, generation %d): only worker 2 should have been replaced", st.Reloads, st.Generation)
	}
	if now := servingPIDs(st); now[1] != before[1] {
		t.Fatalf("worker 1 pid %d → %d: the healthy worker must keep running", before[1], now[1])
	}
	t.Logf("while worker 2 hung: %d requests ok, %d failed", during.ok, len(during.failed))
	checkReplacementStatus(t, a, st, hungAt)

	after := startUserLoad(a.url("/"), 4, 120, 10*time.Second).wait()
	if len(after.failed) != 0 || after.ok < 100 {
		t.Fatalf("after the replacement: %d ok, %d failed: %q", after.ok, len(after.failed), after.failed[:min(5, len(after.failed))])
	}
	newPID := servingPIDs(a.sup.Status())[2]
	answered := 0
	for w, n := range after.by {
		if strings.Contains(w, "worker=2 ") {
			answered += n
		}
	}
	if answered == 0 {
		t.Fatalf("the new worker 2 (pid %d) answered no request: %v", newPID, after.by)
	}
	a.waitStatus(12*time.Second, "the hung worker gone", func(Status) bool { return !pidAlive(before[2]) })
}

// checkReplacementStatus: status and log say which worker was replaced,
// when and why; the detection took a few heartbeat intervals.
func checkReplacementStatus(t *testing.T, a *testApp, st Status, hungAt time.Time) {
	t.Helper()
	hb := st.Heartbeat
	if !hb.PerWorker || hb.Replacements != 1 || hb.ReloadsTriggered != 0 {
		t.Fatalf("heartbeat status %+v: want per-worker checks, 1 replacement, no reload", hb)
	}
	for _, w := range st.Workers {
		if w.Generation != 1 || w.State != WorkerReady {
			continue
		}
		switch w.ID {
		case 1:
			if w.Replacements != 0 || w.Heartbeat.Failures != 0 || w.Heartbeat.LastOK.IsZero() {
				t.Errorf("worker 1: %+v: want healthy, never replaced", w)
			}
		case 2:
			if w.Replacements != 1 || w.LastReplaced.Before(hungAt) {
				t.Errorf("worker 2: %+v: want 1 replacement after %s", w, hungAt)
			}
			if took := w.LastReplaced.Sub(hungAt); took > 4*time.Second {
				t.Errorf("worker 2 replaced %s after it hung: want a few heartbeat intervals", took)
			}
		}
	}
	log := a.out.String()
	if !strings.Contains(log, `msg="heartbeat: replacing hung worker" app=testapp gen=1 worker=2`) ||
		!strings.Contains(log, `why="2 checks in a row failed, last: GET /: no answer within 500ms"`) {
		t.Errorf("the log does not say which worker was replaced and why")
	}
}

// TestHeartbeatReloadsWhenEveryWorkerHangs: when every worker fails, the
// app itself is broken: the heartbeat reloads the generation, as it always
// did, rather than replacing workers one by one; and the guard still
// keeps a second reload at least guard after the first one ended.
func TestHeartbeatReloadsWhenEveryWorkerHangs(t *testing.T) {
	const guard = 2 * time.Second
	a := newTestApp(t, appSpec{workers: 2, extra: hbExtra(guard.String())}).start()
	st := a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
	for _, pid := range servingPIDs(st) {
		hangWorker(t, pid)
	}
	st = a.waitStatus(15*time.Second, "a heartbeat reload", func(st Status) bool { return st.Reloads == 1 && st.State == StateReady })
	first := st.LastReload
	if !first.OK || first.Trigger != "heartbeat" || st.Heartbeat.Replacements != 0 {
		t.Fatalf("reload %+v, %d replacements: want a served heartbeat reload and no replacement", first, st.Heartbeat.Replacements)
	}
	for _, pid := range servingPIDs(st) { // the new generation hangs at once, within the guard
		hangWorker(t, pid)
	}
	st = a.waitStatus(guard+15*time.Second, "a second heartbeat reload", func(st Status) bool { return st.Reloads == 2 && st.State == StateReady })
	firstEnd := first.At.Add(first.Duration)
	if gap := st.LastReload.At.Sub(firstEnd); gap < guard {
		t.Fatalf("second reload %s after the first ended: the guard is %s", gap, guard)
	}
	if hb := st.Heartbeat; hb.ReloadsTriggered != 2 || hb.Suppressed == 0 || hb.Replacements != 0 {
		t.Fatalf("heartbeat %+v: want 2 reloads, some checks suppressed by the guard, no replacement", hb)
	}
}

// TestHeartbeatReplacementIsGuarded: a replacement that hangs too is not
// replaced again within guard of its start: one replacement per worker
// per guard window, never a storm.
func TestHeartbeatReplacementIsGuarded(t *testing.T) {
	const guard = 3 * time.Second
	a := newTestApp(t, appSpec{workers: 2, extra: hbExtra(guard.String())}).start()
	st := a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
	before := servingPIDs(st)
	hangWorker(t, before[2])
	st = a.waitStatus(15*time.Second, "worker 2 replaced", func(st Status) bool {
		now := servingPIDs(st)
		return now[2] != 0 && now[2] != before[2]
	})
	spare := servingPIDs(st)[2]
	var started time.Time
	for _, w := range st.Workers {
		if w.PID == spare {
			started = w.Started
		}
	}
	hangWorker(t, spare)
	waitGuardHeld(t, a, guard, started, before)
}

// waitGuardHeld waits for worker 2's replacement, hung again, to be
// replaced a second time, and fails unless that came at least guard
// after the replacement started (the checks in between suppressed), with
// no reload and worker 1 (pid before[1]) untouched.
func waitGuardHeld(t *testing.T, a *testApp, guard time.Duration, started time.Time, before map[int]int) {
	t.Helper()
	st := a.waitStatus(guard+15*time.Second, "worker 2 replaced again", func(st Status) bool { return st.Heartbeat.Replacements == 2 })
	for _, w := range st.Workers {
		if w.ID == 2 && w.Generation == 1 && w.Replacements == 2 && w.LastReplaced.Sub(started) < guard {
			t.Fatalf("worker 2 replaced again %s after its replacement started: the guard is %s", w.LastReplaced.Sub(started), guard)
		}
	}
	if st.Heartbeat.Suppressed == 0 || st.Reloads != 0 || servingPIDs(st)[1] != before[1] {
		t.Fatalf("heartbeat %+v, %d reloads, worker 1 pid %d (was %d): want suppressed checks, no reload, worker 1 untouched",
			st.Heartbeat, st.Reloads, servingPIDs(st)[1], before[1])
	}
}

// TestJudge pins what a round's failures call for: every check failed →
// reload (if the app's guard allows); else replace each worker that
// failed replaceAfter checks in a row, outside its own guard.
func TestJudge(t *testing.T) {
	now := time.Now()
	const guard = 10 * time.Second
	type w = judgedWorker
	tests := []struct {
		name          string
		workers       []w
		public        bool   // the round checked the public address (no worker)
		withPublic    string // socket mode: the public address checked next to the workers: "ok" or "fail"
		reloadAllowed bool
		reload        bool
		replace       []int
		suppressed    int
		saturated     bool
	}{
		{name: "all pass", workers: []w{{0, time.Hour, 0}, {0, time.Hour, 0}}, reloadAllowed: true},
		{name: "one fails once: forgiven", workers: []w{{1, time.Hour, 0}, {0, time.Hour, 0}}, reloadAllowed: true},
		{name: "one fails twice: replaced", workers: []w{{0, time.Hour, 0}, {2, time.Hour, 0}}, reloadAllowed: true, replace: []int{2}},
		{name: "two of three hung", workers: []w{{3, time.Hour, 0}, {0, time.Hour, 0}, {2, time.Hour, 0}}, reloadAllowed: true, replace: []int{1, 3}},
		{name: "every worker fails: reload", workers: []w{{1, time.Hour, 0}, {5, time.Hour, 0}}, reloadAllowed: true, reload: true},
		{name: "every worker fails within the app guard", workers: []w{{2, time.Hour, 0}, {2, time.Hour, 0}}, suppressed: 1},
		{name: "single worker fails: reload", workers: []w{{1, time.Hour, 0}}, reloadAllowed: true, reload: true},
		{name: "public address fails: reload", public: true, reloadAllowed: true, reload: true},
		{name: "hung within guard of its start", workers: []w{{4, 5 * time.Second, 0}, {0, time.Hour, 0}}, reloadAllowed: true, suppressed: 1},
		{name: "slot replaced within guard", workers: []w{{4, time.Hour, 3 * time.Second}, {0, time.Hour, 0}}, reloadAllowed: true, suppressed: 1},
		{name: "slot replaced before the guard", workers: []w{{4, time.Hour, time.Minute}, {0, time.Hour, 0}}, reloadAllowed: true, replace: []int{1}},
		{name: "socket mode: one fails twice, the public address answers", workers: []w{{0, time.Hour, 0}, {2, time.Hour, 0}}, withPublic: "ok", reloadAllowed: true, replace: []int{2}},
		{name: "socket mode: the public address fails, the workers pass", workers: []w{{0, time.Hour, 0}, {0, time.Hour, 0}}, withPublic: "fail", reloadAllowed: true, reload: true},
		{name: "socket mode: the public address fails within the app guard", workers: []w{{0, time.Hour, 0}, {2, time.Hour, 0}}, withPublic: "fail", suppressed: 1},
		{name: "socket mode: the public address times out behind a queue, the workers pass: saturated", workers: []w{{0, time.Hour, 0}, {0, time.Hour, 0}}, withPublic: "queued", reloadAllowed: true, saturated: true},
		{name: "socket mode: the public address times out behind a queue, a worker fails", workers: []w{{0, time.Hour, 0}, {1, time.Hour, 0}}, withPublic: "queued", reloadAllowed: true, reload: true},
		{name: "the public address times out behind a queue, no worker checked", public: true, withPublic: "queued", reloadAllowed: true, reload: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes, failed := judgedRound(now, tt.workers)
			if tt.public {
				probes, failed = []probeResult{{err: errors.New("503")}}, 1
			}
			switch tt.withPublic {
			case "ok":
				probes = append(probes, probeResult{})
			case "fail":
				probes, failed = append(probes, probeResult{err: errors.New("503")}), failed+1
			case "queued":
				if tt.public {
					probes, failed = nil, 0
				}
				probes, failed = append(probes, probeResult{err: errors.New("no answer within 10s"), queued: 30}), failed+1
			}
			got := judge(probes, failed, now, guard, tt.reloadAllowed)
			var ids []int
			for _, wk := range got.replace {
				ids = append(ids, wk.id)
			}
			if got.reload != tt.reload || !slices.Equal(ids, tt.replace) || got.suppressed != tt.suppressed || got.saturated != tt.saturated {
				t.Fatalf("got reload %v, replace %v, suppressed %d, saturated %v; want %v, %v, %d, %v",
					got.reload, ids, got.suppressed, got.saturated, tt.reload, tt.replace, tt.suppressed, tt.saturated)
			}
		})
	}
}

// judgedWorker is one worker of a round in TestJudge.
type judgedWorker struct {
	fails   int // in a row, this round included; 0: this check passed
	age     time.Duration
	replAgo time.Duration // 0: never replaced
}

// judgedRound makes a round's checks of workers of one generation.
func judgedRound(now time.Time, workers []judgedWorker) ([]probeResult, int) {
	g := &generation{num: 1}
	var probes []probeResult
	failed := 0
	for i, spec := range workers {
		sl := &slot{id: i + 1}
		if spec.replAgo != 0 {
			sl.hb.lastReplaced = now.Add(-spec.replAgo)
		}
		g.slots = append(g.slots, sl)
		wk := &worker{gen: g, id: i + 1, started: now.Add(-spec.age), state: WorkerReady}
		wk.hb.failures = spec.fails
		p := probeResult{w: wk}
		if spec.fails > 0 {
			p.err, failed = errors.New("timeout"), failed+1
		}
		probes = append(probes, p)
	}
	return probes, failed
}

// TestHeartbeatTargets: proxy mode checks each ready worker on its own
// port; socket mode watches each ready worker's process group come back to
// the shared socket and checks the public address too; no worker ready,
// the public address alone.
func TestHeartbeatTargets(t *testing.T) {
	g := &generation{num: 1}
	for i, st := range []WorkerState{WorkerReady, WorkerStarting, WorkerReady} {
		g.slots = append(g.slots, &slot{id: i + 1, w: &worker{gen: g, id: i + 1, port: 4001 + i, pid: 7001 + i, state: st}})
	}
	show := func(ts []probeTarget) (out []string) {
		for _, t := range ts {
			if t.url != "" {
				out = append(out, t.url)
			} else {
				out = append(out, fmt.Sprintf("worker %d: group %d", t.w.id, t.pgid))
			}
		}
		return out
	}
	proxy := newHeartbeat("127.0.0.1:8080", ModeProxy, "/up", time.Second, sharedSocket{})
	if got, want := show(proxy.targets(g)), []string{"http://127.0.0.1:4001/up", "http://127.0.0.1:4003/up"}; !slices.Equal(got, want) {
		t.Errorf("proxy mode: %v, want %v", got, want)
	}
	if got, want := show(proxy.targets(&generation{})), []string{"http://127.0.0.1:8080/up"}; !slices.Equal(got, want) {
		t.Errorf("proxy mode, no worker ready: %v, want %v", got, want)
	}
	socket := newHeartbeat("0.0.0.0:8080", ModeSocket, "/up", time.Second, sharedSocket{ino: 1, port: 8080})
	if !socket.perWorker {
		t.Fatalf("socket mode does not check each worker on this system (comebackSupported false)")
	}
	if got, want := show(socket.targets(g)), []string{"worker 1: group 7001", "worker 3: group 7003", "http://127.0.0.1:8080/up"}; !slices.Equal(got, want) {
		t.Errorf("socket mode: %v, want %v", got, want)
	}
	if got, want := show(socket.targets(&generation{})), []string{"http://127.0.0.1:8080/up"}; !slices.Equal(got, want) {
		t.Errorf("socket mode, no worker ready: %v, want %v", got, want)
	}
}

// stopProcess sends pid SIGSTOP and returns once every one of its threads
// reads as stopped. kill returns when the signal is queued: one thread
// takes it and then stops the others, so on a saturated machine a thread
// already running (a Go worker's netpoller) can still accept and answer a
// request milliseconds later.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("threads of pid %d: %v", pid, err)
		}
		stopped := 0
		for _, task := range tasks {
			// /proc/<tid>/stat is the thread's own.
			if tid, err := strconv.Atoi(filepath.Base(task)); err == nil && processStopped(tid) {
				stopped++
			}
		}
		if stopped == len(tasks) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: %d of %d threads stopped 10 s after SIGSTOP", pid, stopped, len(tasks))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProxyReadTimeoutOnAStoppedWorker: a worker stopped with SIGSTOP
// (the process is there, its port accepts, nothing answers) gets each
// request answered 504 after [proxy] read_timeout, as nginx's
// proxy_read_timeout does, where before the request waited for as long as
// the client did; once it runs again it answers.
func TestProxyReadTimeoutOnAStoppedWorker(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1, extra: "[proxy]\nread_timeout = \"500ms\"\n"}).start()
	st := a.waitState(StateReady, 10*time.Second)
	pid := servingPIDs(st)[1]
	if pid == 0 {
		t.Fatalf("no worker 1 serving: %+v", st.Workers)
	}
	stopProcess(t, pid)
	cont := func() { syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(cont)
	client := &http.Client{Timeout: 20 * time.Second}
	start := time.Now()
	resp, err := client.Get(a.url("/"))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("GET with the worker stopped: %v after %s; want 504 after read_timeout 500ms", err, took)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || took < 500*time.Millisecond {
		t.Fatalf("GET with the worker stopped: %d after %s; want 504 after read_timeout 500ms", resp.StatusCode, took)
	}
	cont()
	if code, _, _, err := get(client, a.url("/")); err != nil || code != 200 {
		t.Fatalf("GET once the worker runs again: %d, %v", code, err)
	}
}

// TestHeartbeatProxyModeDoesNotReloadASaturatedApp: with more clients
// than workers that serve one request at a time (a Python HTTPServer, as
// gunicorn's sync workers), each worker's port has a queue of proxied
// requests, and the heartbeat's GET there waits behind them and times
// out on every worker at once: the whole generation was reloaded, twice
// in 4 s, at peak load. A worker that answered proxied requests while its
// check waited is busy, not hung: the check passes, the round is logged
// and counted as saturated, and nothing is reloaded or replaced.
func TestHeartbeatProxyModeDoesNotReloadASaturatedApp(t *testing.T) {
	py := requirePython(t)
	app := filepath.Join(t.TempDir(), "app.py")
	if err := os.WriteFile(app, []byte(`import os, time
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/slow"): time.sleep(0.1)
        b = b"ok\n"
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, appSpec{mode: ModeProxy, workers: 2, extra: hbExtra("1s")})
	a.setCommand(py, app)
	a.start()
	// 24 clients, 100 ms answers, 2 workers one request at a time: about
	// 1.2 s of queue at each worker's port, beyond the 500 ms heartbeat
	// timeout.
	before, reloads, st, served, failed := healthyThenSaturated(a, "/slow")
	hb := st.Heartbeat
	t.Logf("%d served; heartbeat after the load: %+v", served, hb)
	if len(failed) > 0 {
		t.Errorf("%d requests failed: %v", len(failed), failed[:min(len(failed), 5)])
	}
	if hb.Saturated == 0 || hb.ReloadsTriggered != 0 || hb.Replacements != 0 || st.Reloads != reloads ||
		fmt.Sprint(servingPIDs(st)) != fmt.Sprint(before) {
		t.Fatalf("heartbeat %+v, reloads %d (was %d), workers %v → %v: want late checks of busy workers counted as saturation, nothing reloaded or replaced",
			hb, st.Reloads, reloads, before, servingPIDs(st))
	}
	if !strings.Contains(a.out.String(), "which answered proxied requests meanwhile: saturated, not hung") {
		t.Errorf("no log line says the workers were saturated:\n%s", a.out.String())
	}
}

// healthyThenSaturated waits for a's per-worker heartbeat to pass, then
// saturates a with 24 clients GETting path for 4 s, and returns the
// serving pids and reload count before, the status after, and what the
// clients got.
func healthyThenSaturated(a *testApp, path string) (before map[int]int, reloads int, after Status, served int, failed []string) {
	a.t.Helper()
	st := a.waitStatus(20*time.Second, "a healthy per-worker heartbeat", func(st Status) bool {
		return st.State == StateReady && st.Heartbeat.PerWorker && st.Heartbeat.LastOK
	})
	before, reloads = servingPIDs(st), st.Reloads
	served, failed = saturate(a.url(path), 24, 4*time.Second)
	return before, reloads, a.sup.Status(), served, failed
}

// saturate keeps clients GETting url on fresh connections (runUserLoad,
// with room for a long queue: 10 s per request), for d or at most 200
// requests a client, and returns how many were answered 200 and what the
// others got.
func saturate(url string, clients int, d time.Duration) (served int, failed []string) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	l := runUserLoad(client, url, clients, 200*clients, d).wait()
	return l.ok, l.failed
}
