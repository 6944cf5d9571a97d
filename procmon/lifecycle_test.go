package procmon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWorkerIgnoringSIGTERMIsKilledAtDeadline: shutdown sends stop_signal,
// waits stop_timeout, then SIGKILLs the group; Run returns after it.
func TestWorkerIgnoringSIGTERMIsKilledAtDeadline(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1, env: map[string]string{"PMT_IGNORE_TERM": "1"}, extra: "stop_timeout = \"1s\"\n"}).start()
	pid := a.sup.Status().Workers[0].PID
	start := time.Now()
	a.stop()
	took := time.Since(start)
	if pidAlive(pid) {
		t.Fatalf("worker %d still alive after Run returned", pid)
	}
	if took < 900*time.Millisecond {
		t.Fatalf("Run returned after %s, before the 1s stop_timeout: the worker was not given its grace", took)
	}
	if !strings.Contains(a.out.String(), "killed by signal 9") {
		t.Fatalf("no SIGKILL in the log:\n%s", a.out)
	}
}

// TestShutdownLeavesNoProcesses: every worker and whatever it started in
// its process group is gone when Run returns.
func TestShutdownLeavesNoProcesses(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 2, env: map[string]string{"PMT_CHILD": "1"}}).start()
	var pids []int
	for _, w := range a.sup.Status().Workers {
		pids = append(pids, w.PID)
	}
	if !groupAlive(pids[0]) {
		t.Fatal("the worker's process group is not there")
	}
	a.stop()
	for _, pid := range pids {
		if pidAlive(pid) || groupAlive(pid) {
			t.Fatalf("process group %d outlived procmon", pid)
		}
	}
	if st := a.sup.Status(); st.State != StateStopped {
		t.Fatalf("state after Run returned: %s", st.State)
	}
}

// groupAlive says whether any non-zombie process is in process group pgid.
func groupAlive(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == fmt.Sprint(pgid) {
			return true
		}
	}
	return false
}

// TestCrashBackoffAndCrashLoop: a worker that crashes is restarted after
// 1x, 2x, 4x the initial delay; one that keeps dying before ready makes a
// crash loop with the longest delay; once it starts again the app is ready.
func TestCrashBackoffAndCrashLoop(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 2, backoff: Backoff{Initial: 100 * time.Millisecond, Max: 800 * time.Millisecond}}).start()
	victim := a.sup.Status().Workers[0]
	crash := filepath.Join(a.release, "crash")
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(victim.PID, syscall.SIGKILL)
	st := a.waitState(StateCrashLoop, 20*time.Second)
	if st.Generation != 1 || st.Workers[1].State != WorkerReady {
		t.Fatalf("the other worker must keep serving: %+v", st)
	}
	if _, _, _, err := get(httpClient(), a.url("/")); err != nil {
		t.Fatalf("request during the crash loop: %v", err)
	}
	delays := regexp.MustCompile(`msg="worker crashed".* worker=1 .*restart_in=(\S+)`).FindAllStringSubmatch(a.out.String(), -1)
	want := []string{"100ms", "200ms", "400ms", "800ms"}
	if len(delays) < len(want) {
		t.Fatalf("crash log has %d restarts, want %d:\n%s", len(delays), len(want), a.out)
	}
	for i, w := range want {
		if delays[i][1] != w {
			t.Fatalf("restart %d after %s, want %s (all: %v)", i+1, delays[i][1], w, delays)
		}
	}
	if err := os.Remove(crash); err != nil {
		t.Fatal(err)
	}
	st = a.waitState(StateReady, 20*time.Second)
	if w := st.Workers[0]; w.Restarts < 4 || !strings.Contains(w.LastExit, "status 3") {
		t.Fatalf("worker 1 after the crash loop: %+v", w)
	}
	if !sawEvent(a.events, EventCrashLoop) {
		t.Fatal("no crash-loop event")
	}
}

func sawEvent(events chan Event, kind EventKind) bool {
	for {
		select {
		case e := <-events:
			if e.Kind == kind {
				return true
			}
		default:
			return false
		}
	}
}

// TestHeartbeatFailureReloadsOnceWithGuard: a /health failing for a while
// makes one reload; the checks within the guard after it are suppressed
// rather than reloading again and again.
func TestHeartbeatFailureReloadsOnceWithGuard(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1, extra: "[heartbeat]\ninterval = \"100ms\"\ntimeout = \"2s\"\npath = \"/health\"\nguard = \"3s\"\n"}).start()
	a.waitStatus(10*time.Second, "a healthy heartbeat", func(st Status) bool { return st.Heartbeat.LastOK })
	unhealthy := filepath.Join(a.release, "unhealthy")
	if err := os.WriteFile(unhealthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(20*time.Second, "a heartbeat reload", func(st Status) bool { return st.Reloads == 1 && st.State == StateReady })
	time.Sleep(500 * time.Millisecond) // still failing, inside the guard
	if err := os.Remove(unhealthy); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(20*time.Second, "healthy again after the guard", func(st Status) bool {
		return st.Heartbeat.LastOK && time.Since(st.LastReload.At) > 4*time.Second
	})
	st := a.sup.Status()
	hb := st.Heartbeat
	if hb.ReloadsTriggered != 1 || st.Reloads != 1 || st.Generation != 2 {
		t.Fatalf("heartbeat made %d reloads (status: %d reloads, generation %d), want exactly 1", hb.ReloadsTriggered, st.Reloads, st.Generation)
	}
	if hb.Suppressed == 0 {
		t.Fatalf("no check was suppressed by the guard: %+v", hb)
	}
	if hb.FailuresTotal < 1 || hb.Failures != 0 {
		t.Fatalf("failures: total %d (want at least the one that reloaded), in a row %d (want 0 once healthy)",
			hb.FailuresTotal, hb.Failures)
	}
	if st.LastReload.Trigger != "heartbeat" {
		t.Fatalf("last reload trigger %q", st.LastReload.Trigger)
	}
}

// TestModeNone: workers without a port; a reload starts the new ones,
// then stops the old ones.
func TestModeNone(t *testing.T) {
	a := newTestApp(t, appSpec{mode: ModeNone, workers: 2, env: map[string]string{"PMT_NO_PORT": "1"}}).start()
	old := a.sup.Status().Workers
	res, err := a.sup.Reload(t.Context())
	if err != nil || !res.OK {
		t.Fatalf("reload: %+v, %v", res, err)
	}
	st := a.waitStatus(20*time.Second, "old workers gone", func(st Status) bool { return len(st.Workers) == 2 })
	for _, w := range old {
		if pidAlive(w.PID) {
			t.Fatalf("old worker %d still running", w.PID)
		}
	}
	if st.Workers[0].Generation != 2 || st.Workers[0].Port != 0 {
		t.Fatalf("new workers: %+v", st.Workers)
	}
}

// TestWorkersDieWithProcmon: even when procmon itself is SIGKILLed (no
// chance to clean up), its workers do not live on (PR_SET_PDEATHSIG).
func TestWorkersDieWithProcmon(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 2})
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PMT_SUPERVISOR="+a.cfgPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var workers []int
	for deadline := time.Now().Add(20 * time.Second); len(workers) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("procmon did not start 2 workers: %v", workers)
		}
		workers = childrenOf(cmd.Process.Pid)
	}
	if _, _, _, err := get(httpClient(), a.url("/")); err != nil {
		t.Fatalf("app not serving: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		alive := 0
		for _, pid := range workers {
			if pidAlive(pid) {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers of %v outlived a SIGKILLed procmon", alive, workers)
		}
	}
}

// childrenOf lists the pids whose parent is ppid.
func childrenOf(ppid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestForceSkipsTheGrace: the second signal (Force) kills at once what
// the first one would have waited stop_timeout for.
func TestForceSkipsTheGrace(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1, env: map[string]string{"PMT_IGNORE_TERM": "1"}, extra: "stop_timeout = \"60s\"\n"}).start()
	pid := a.sup.Status().Workers[0].PID
	a.cancel()
	a.cancel = nil
	a.waitState(StateStopping, 10*time.Second)
	start := time.Now()
	a.sup.Force()
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still waiting 20s after Force, with a 60s stop_timeout")
	}
	if pidAlive(pid) {
		t.Fatalf("worker %d alive after a forced stop", pid)
	}
	t.Logf("forced stop took %s", time.Since(start))
}
