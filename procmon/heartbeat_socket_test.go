package procmon

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// requirePython returns python3's path; make test (DEPLOY_REQUIRE_SSHD=1)
// fails without it, a plain go test skips.
func requirePython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") != "" {
			t.Fatalf("python3 is not on PATH: scripts/deps.sh installs it")
		}
		t.Skip("python3 is not installed")
	}
	return py
}

// socketHangApp is a socket-mode app of workers running testdata/hangapp
// (.py or .js, see there) with quick heartbeats (hbExtra).
func socketHangApp(t *testing.T, lang string, workers int, guard string, env map[string]string) *testApp {
	t.Helper()
	var argv []string
	switch lang {
	case "python":
		app, _ := filepath.Abs("testdata/hangapp.py")
		argv = []string{requirePython(t), app}
	case "node":
		app, _ := filepath.Abs("testdata/hangapp.js")
		argv = []string{requireNode(t), app}
	default:
		t.Fatalf("no hangapp in %s", lang)
	}
	a := newTestApp(t, appSpec{mode: ModeSocket, workers: workers, env: env, extra: hbExtra(guard)})
	a.setCommand(argv...)
	return a.start()
}

// hangOne makes the worker with WORKER_ID id hang in a request handler
// (how: spin, sleep or alloc): GET /hang?worker=id until that worker takes
// the request (the others answer 409), which then never answers. It
// returns the hung worker's pid.
func hangOne(t *testing.T, a *testApp, id int, how string) int {
	t.Helper()
	pid := servingPIDs(a.sup.Status())[id]
	client := &http.Client{Timeout: 700 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	url := a.url(fmt.Sprintf("/hang?worker=%d&how=%s", id, how))
	for range 60 {
		code, _, body, err := get(client, url)
		if err != nil {
			mark := fmt.Sprintf("worker=%d pid=%d | hanging in a handler (%s)", id, pid, how)
			a.waitStatus(5*time.Second, "worker "+fmt.Sprint(id)+" saying it hangs", func(Status) bool {
				return strings.Contains(a.out.String(), mark)
			})
			return pid
		}
		if code != http.StatusConflict {
			t.Fatalf("GET /hang: %d %q", code, body)
		}
	}
	t.Fatalf("worker %d took none of 60 requests", id)
	return 0
}

// TestHeartbeatSocketModeReplacesOnlyTheHungWorker is issue 11, item 4, in
// socket mode: the workers share one socket, so a check of the public
// address lands on a healthy worker, never on a hung one (it accepts
// nothing), and a worker stuck in a handler was never found. Each worker is
// now watched coming back to the shared socket; one stuck in a handler (a
// busy loop, a sleep; Python one request at a time, Node an event loop) is
// replaced alone, under user load: same WORKER_ID, the others keep their
// pids, no reload, and status and log say who and why.
func TestHeartbeatSocketModeReplacesOnlyTheHungWorker(t *testing.T) {
	for _, tc := range []struct {
		lang, how   string
		workers, id int
	}{
		{"python", "spin", 3, 2},
		{"python", "sleep", 3, 3},
		{"node", "spin", 2, 2},
		{"node", "alloc", 2, 1}, // V8's GC threads stay busy next to the stuck loop
	} {
		t.Run(tc.lang+"-"+tc.how, func(t *testing.T) {
			a := socketHangApp(t, tc.lang, tc.workers, "1s", nil)
			st := a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
			before := servingPIDs(st)
			if len(before) != tc.workers {
				t.Fatalf("serving workers %v: want %d", before, tc.workers)
			}
			// Each request on a new connection, as the shared socket hands
			// them out: keep-alive connections a Node worker held when it
			// hung are lost with it, whatever procmon does.
			const clients = 4
			load := startFreshLoad(a.url("/"), clients, 2000, 20*time.Second)
			hungAt := time.Now()
			hung := hangOne(t, a, tc.id, tc.how)
			st = a.waitStatus(12*time.Second, fmt.Sprintf("worker %d replaced", tc.id), func(st Status) bool {
				now := servingPIDs(st)
				return now[tc.id] != 0 && now[tc.id] != hung || st.Reloads > 0
			})
			load.end()
			if st.Reloads != 0 || st.Generation != 1 {
				t.Fatalf("the heartbeat reloaded (reloads %d, generation %d): only worker %d should have been replaced", st.Reloads, st.Generation, tc.id)
			}
			for id, pid := range servingPIDs(st) {
				if id != tc.id && pid != before[id] {
					t.Fatalf("worker %d pid %d → %d: a healthy worker must keep running", id, before[id], pid)
				}
			}
			t.Logf("while worker %d hung: %d user requests ok, %d failed %q", tc.id, load.ok, len(load.failed), load.failed[:min(3, len(load.failed))])
			// A worker one request at a time takes no connection once it
			// hung; an event loop may have accepted some in the same turn
			// as the request it hangs in: at most one per client, which
			// waits for its answer before it sends the next.
			if allowed := map[string]int{"python": 0, "node": clients}[tc.lang]; load.ok == 0 || len(load.failed) > allowed {
				t.Fatalf("user load: %d ok, %d failed (at most %d): a hung worker takes no new connection from the shared socket", load.ok, len(load.failed), allowed)
			}
			checkSocketReplacement(t, a, a.sup.Status(), tc.id, hungAt)
			after := startFreshLoad(a.url("/"), 4, 200, 10*time.Second).wait()
			if len(after.failed) != 0 || after.ok < 150 {
				t.Fatalf("after the replacement: %d ok, %d failed: %q", after.ok, len(after.failed), after.failed[:min(5, len(after.failed))])
			}
			a.waitStatus(12*time.Second, "the hung worker gone", func(Status) bool { return !pidAlive(hung) })
		})
	}
}

// TestHeartbeatSocketModeReplacesAStoppedWorker: a worker stopped with
// SIGSTOP is no worker hung in a handler (its threads still read as
// blocked where they were, in poll on the shared socket), but it accepts
// nothing, as a GET on its own port would fail in proxy mode: it is
// replaced alone too, and, deaf to stop_signal while stopped, killed
// stop_timeout later.
func TestHeartbeatSocketModeReplacesAStoppedWorker(t *testing.T) {
	a := socketHangApp(t, "python", 2, "1s", nil)
	st := a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
	before := servingPIDs(st)
	if err := syscall.Kill(before[2], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	st = a.waitStatus(12*time.Second, "worker 2 replaced", func(st Status) bool {
		now := servingPIDs(st)
		return now[2] != 0 && now[2] != before[2] || st.Reloads > 0
	})
	if st.Reloads != 0 || servingPIDs(st)[1] != before[1] || st.Heartbeat.Replacements != 1 {
		t.Fatalf("reloads %d, worker 1 %d → %d, heartbeat %+v: want worker 2 replaced alone", st.Reloads, before[1], servingPIDs(st)[1], st.Heartbeat)
	}
	if !strings.Contains(a.out.String(), fmt.Sprintf("last seen: %d: stopped", before[2])) {
		t.Errorf("the log does not say the worker was stopped")
	}
	a.waitStatus(12*time.Second, "the stopped worker gone", func(Status) bool { return !pidAlive(before[2]) })
}

// checkSocketReplacement: status and log say which worker was replaced,
// when and why; the others were checked and passed.
func checkSocketReplacement(t *testing.T, a *testApp, st Status, id int, hungAt time.Time) {
	t.Helper()
	if hb := st.Heartbeat; !hb.PerWorker || hb.Replacements != 1 || hb.ReloadsTriggered != 0 {
		t.Fatalf("heartbeat status %+v: want per-worker checks, 1 replacement, no reload", hb)
	}
	for _, w := range st.Workers {
		if w.Generation != 1 || w.State != WorkerReady {
			continue
		}
		switch {
		case w.ID != id:
			if w.Replacements != 0 || w.Heartbeat.LastOK.IsZero() {
				t.Errorf("worker %d: %+v: want checked, never replaced", w.ID, w)
			}
		case w.Replacements != 1 || w.LastReplaced.Before(hungAt):
			t.Errorf("worker %d: %+v: want 1 replacement after %s", id, w, hungAt)
		case w.LastReplaced.Sub(hungAt) > 5*time.Second:
			t.Errorf("worker %d replaced %s after it hung: want a few heartbeat intervals", id, w.LastReplaced.Sub(hungAt))
		}
	}
	log := a.out.String()
	if !strings.Contains(log, fmt.Sprintf(`msg="heartbeat: replacing hung worker" app=testapp gen=1 worker=%d`, id)) ||
		!strings.Contains(log, `why="2 checks in a row failed, last: not back on the shared socket within 500ms`) {
		t.Errorf("the log does not say which worker was replaced and why")
	}
}

// TestHeartbeatSocketModeReplacementIsGuarded: a replacement that hangs
// too is not replaced again within guard of its start: one replacement
// per worker per guard window, never a storm; the other worker and the
// generation are untouched.
func TestHeartbeatSocketModeReplacementIsGuarded(t *testing.T) {
	const guard = 3 * time.Second
	a := socketHangApp(t, "python", 2, guard.String(), nil)
	st := a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
	before := servingPIDs(st)
	hung := hangOne(t, a, 2, "sleep")
	st = a.waitStatus(15*time.Second, "worker 2 replaced", func(st Status) bool {
		now := servingPIDs(st)
		return now[2] != 0 && now[2] != hung
	})
	spare := servingPIDs(st)[2]
	var started time.Time
	for _, w := range st.Workers {
		if w.PID == spare {
			started = w.Started
		}
	}
	hangOne(t, a, 2, "spin")
	waitGuardHeld(t, a, guard, started, before)
}

// TestHeartbeatSocketModeReloadsWhenTheAppFails: socket mode still checks
// the public address, as a user's request reaches the app; when it fails
// (here every answer is a 500) while every worker comes back to the
// socket, the app is broken: a reload, as the heartbeat always did, and
// no worker is replaced.
func TestHeartbeatSocketModeReloadsWhenTheAppFails(t *testing.T) {
	a := socketHangApp(t, "python", 2, "1s", nil)
	a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
	broken := filepath.Join(a.release, "broken")
	if err := os.WriteFile(broken, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st := a.waitStatus(15*time.Second, "a heartbeat reload", func(st Status) bool { return st.Reloads >= 1 })
	os.Remove(broken)
	if r := st.LastReload; r.Trigger != "heartbeat" || st.Heartbeat.ReloadsTriggered == 0 || st.Heartbeat.Replacements != 0 {
		t.Fatalf("reload %+v, heartbeat %+v: want a heartbeat reload and no replacement", r, st.Heartbeat)
	}
	if !strings.Contains(st.Heartbeat.LastError, "500") || strings.Contains(st.Heartbeat.LastError, "worker") {
		t.Fatalf("heartbeat error %q: want the public address's 500 and no worker failing", st.Heartbeat.LastError)
	}
	if !strings.Contains(a.out.String(), `msg="heartbeat failed on the public address: reloading"`) {
		t.Errorf("the log does not say the public address failed")
	}
}

// TestHeartbeatSocketModeKeepsBusyWorkers: a worker busy with requests
// that last many heartbeat rounds (15 intervals, 6 timeouts) is no hung
// worker when its server takes connections meanwhile: Go's net/http (its
// poller thread waits in epoll), Node's event loop (epoll_wait with the
// socket registered), Python's thread-per-request server (its main thread
// polls the socket). None is replaced, under user load too.
func TestHeartbeatSocketModeKeepsBusyWorkers(t *testing.T) {
	for _, tc := range []struct{ name, slow string }{
		{"go", "/slow?d=3s"},
		{"node", "/slow?ms=3000"},
		{"python-threads", "/slow?s=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a *testApp
			switch tc.name {
			case "go": // the test binary's worker
				a = newTestApp(t, appSpec{mode: ModeSocket, workers: 2, extra: hbExtra("1s")}).start()
			case "node":
				server, _ := filepath.Abs("../examples/node-hello/server.js")
				a = newTestApp(t, appSpec{mode: ModeSocket, workers: 2, extra: hbExtra("1s")})
				a.setCommand(requireNode(t), server)
				a.start()
			case "python-threads":
				a = socketHangApp(t, "python", 2, "1s", map[string]string{"HANGAPP_THREADED": "1"})
			}
			st := a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
			before := servingPIDs(st)
			start := time.Now()
			load := startFreshLoad(a.url("/"), 2, 1000, 10*time.Second)
			slow := slowRequests(a.url(tc.slow), 6)
			load.end()
			st = a.sup.Status()
			for _, r := range slow {
				if r != "" {
					t.Fatalf("slow requests: %q", slow)
				}
			}
			if len(load.failed) != 0 || load.ok == 0 {
				t.Fatalf("user load next to the slow requests: %d ok, %d failed %q", load.ok, len(load.failed), load.failed[:min(3, len(load.failed))])
			}
			hb := st.Heartbeat
			if !hb.PerWorker || hb.LastAt.Before(start.Add(2*time.Second)) {
				t.Fatalf("heartbeat %+v: want per-worker checks running while the slow requests ran", hb)
			}
			if hb.Replacements != 0 || hb.FailuresTotal != 0 || st.Reloads != 0 {
				t.Fatalf("heartbeat %+v, %d reloads: a busy worker that takes connections was taken for hung", hb, st.Reloads)
			}
			if now := servingPIDs(st); fmt.Sprint(now) != fmt.Sprint(before) {
				t.Fatalf("workers %v → %v", before, now)
			}
		})
	}
}

// slowRequests sends n GETs of url at once and waits for them; each
// result is "" for a 200, else what went wrong.
func slowRequests(url string, n int) []string {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, body, err := get(client, url)
			if err != nil || code != http.StatusOK {
				res[i] = fmt.Sprintf("%d %q %v", code, body, err)
			}
		}()
	}
	wg.Wait()
	return res
}

// TestHeartbeatSocketModeKeepsSaturatedWorkers: workers saturated by wrk
// for 8 heartbeat timeouts are seldom seen waiting on the shared socket (a
// worker one request at a time is always busy with the next client; an
// event loop with keep-alive clients always has something to read), yet
// they take connections and read and write: none is replaced.
func TestHeartbeatSocketModeKeepsSaturatedWorkers(t *testing.T) {
	wrk := requireWrk(t)
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			a := socketHangApp(t, lang, 2, "1s", nil)
			// A warm-up first: freshly started workers under 32 new
			// connections at once (node compiling its handlers) on a
			// loaded machine answered the public check late once, which
			// is a failure by design (a user's request was that slow),
			// not the saturation this test is about.
			if out, err := exec.Command(wrk, "-t1", "-c32", "-d1s", "--timeout", "2s", a.url("/")).CombinedOutput(); err != nil {
				t.Fatalf("wrk warm-up: %v\n%s", err, out)
			}
			warm := time.Now()
			st := a.waitStatus(20*time.Second, "a healthy heartbeat after the warm-up", func(st Status) bool {
				return st.State == StateReady && st.Heartbeat.LastOK && st.Heartbeat.LastAt.After(warm)
			})
			before, reloads := servingPIDs(st), st.Reloads
			start := time.Now()
			out, err := exec.Command(wrk, "-t1", "-c32", "-d4s", "--timeout", "2s", a.url("/")).CombinedOutput()
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
			st = a.sup.Status()
			t.Logf("wrk:\n%s\nheartbeat: %+v", out, st.Heartbeat)
			if hb := st.Heartbeat; !hb.PerWorker || hb.LastAt.Before(start.Add(3*time.Second)) {
				t.Fatalf("heartbeat %+v: want per-worker checks running under the load", hb)
			}
			if hb := st.Heartbeat; hb.Replacements != 0 || st.Reloads != reloads || fmt.Sprint(servingPIDs(st)) != fmt.Sprint(before) {
				t.Fatalf("heartbeat %+v, %d reloads (%d before wrk), workers %v → %v: a saturated worker was taken for hung",
					hb, st.Reloads, reloads, before, servingPIDs(st))
			}
		})
	}
}

// requireWrk returns wrk's path; make test (DEPLOY_REQUIRE_SSHD=1) fails
// without it, a plain go test skips.
func requireWrk(t *testing.T) string {
	t.Helper()
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") != "" {
			t.Fatalf("wrk is not on PATH: scripts/deps.sh installs it")
		}
		t.Skip("wrk is not installed")
	}
	return wrk
}

// TestHeartbeatSocketModeDoesNotReloadASaturatedApp: more clients than
// the workers can serve at once queue in the shared socket's accept
// queue, so the heartbeat's GET of the public address waits behind them
// and times out, though every worker keeps taking connections. That
// failure reloaded the whole generation: a reload at peak load, which
// starts a second set of workers beside the busy ones and fixes nothing.
// Now a public check that timed out while connections still waited to be
// accepted and every worker passed its own check counts as saturation: it
// is logged and counted, nothing is reloaded or replaced, and the
// heartbeat passes again once the load is gone.
func TestHeartbeatSocketModeDoesNotReloadASaturatedApp(t *testing.T) {
	a := socketHangApp(t, "python", 2, "1s", nil) // one request at a time per worker
	// 24 clients asking for 100 ms answers from 2 workers that serve one
	// at a time: a new connection waits about 1.2 s, beyond the 500 ms
	// heartbeat timeout.
	before, reloads, st, _, failed := healthyThenSaturated(a, "/slow?s=0.1")
	hb := st.Heartbeat
	t.Logf("heartbeat after the load: %+v", hb)
	if hb.FailuresTotal == 0 {
		t.Fatalf("premise: no public check timed out under the load (heartbeat %+v)", hb)
	}
	if len(failed) > 0 {
		t.Errorf("%d requests failed: %v", len(failed), failed[:min(len(failed), 5)])
	}
	if hb.Saturated == 0 || hb.ReloadsTriggered != 0 || hb.Replacements != 0 || st.Reloads != reloads ||
		fmt.Sprint(servingPIDs(st)) != fmt.Sprint(before) {
		t.Fatalf("heartbeat %+v, reloads %d (was %d), workers %v → %v: want the saturation counted and nothing reloaded or replaced",
			hb, st.Reloads, reloads, before, servingPIDs(st))
	}
	if !strings.Contains(a.out.String(), "saturated, not hung") {
		t.Errorf("no log line says the app was saturated:\n%s", a.out.String())
	}
	end := time.Now()
	a.waitStatus(10*time.Second, "the heartbeat passing after the load", func(st Status) bool {
		return st.Heartbeat.LastOK && st.Heartbeat.LastAt.After(end)
	})
}
