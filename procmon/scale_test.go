package procmon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// servingWorkers counts the ready workers of the serving generation and
// the others (starting, draining, stopping) still alive.
func servingWorkers(st Status) (ready, other int) {
	for _, w := range st.Workers {
		switch {
		case w.Generation == st.Generation && w.State == WorkerReady:
			ready++
		case w.State != WorkerExited:
			other++
		}
	}
	return ready, other
}

func (a *testApp) scale(n int) ScaleEvent {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := a.sup.Scale(ctx, n)
	if err != nil {
		a.t.Fatalf("scale %d: %v", n, err)
	}
	return ev
}

// waitWorkers waits until exactly n workers of the serving generation
// are ready and no other worker is alive.
func (a *testApp) waitWorkers(n int) Status {
	a.t.Helper()
	return a.waitStatus(30*time.Second, fmt.Sprintf("%d ready workers and no other", n), func(st Status) bool {
		ready, other := servingWorkers(st)
		return ready == n && other == 0 && st.Scale.Workers == n
	})
}

// TestScaleUnderLoadFailsNoRequest scales up and down while real HTTP
// load runs, in proxy and socket mode: no request fails, the new workers
// answer, the highest WORKER_IDs leave, and no reload happens.
func TestScaleUnderLoadFailsNoRequest(t *testing.T) {
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		t.Run(string(mode), func(t *testing.T) {
			a := newTestApp(t, appSpec{mode: mode, env: map[string]string{"PMT_BOOT_DELAY": "200ms"}}).start()
			stop := startLoad(a.url("/"), 4, 50000, 60*time.Second)
			if ev := a.scale(4); ev.From != 2 || ev.To != 4 || ev.Source != ScaleFromCommand {
				t.Errorf("scale up: event %+v", ev)
			}
			a.waitWorkers(4)
			time.Sleep(500 * time.Millisecond) // the new workers take load
			a.scale(1)
			st := a.waitWorkers(1)
			time.Sleep(300 * time.Millisecond)
			res := stop()
			t.Logf("%d requests ok, %d failed, answered by %v", res.ok, res.failed, res.workers)
			if res.failed != 0 {
				t.Fatalf("%d requests failed, first: %q", res.failed, res.errs)
			}
			if st.Generation != 1 || st.Reloads != 0 {
				t.Fatalf("scaling reloaded: generation %d, %d reloads", st.Generation, st.Reloads)
			}
			if ids := workerIDs(st, st.Generation); ids != "1" {
				t.Fatalf("after scaling down to 1, serving WORKER_IDs %q, want the lowest: 1", ids)
			}
			if mode == ModeProxy && !answeredBy(res, "worker=4") {
				t.Fatalf("worker 4 never answered: %v", res.workers)
			}
		})
	}
}

func workerIDs(st Status, gen int) string {
	var ids []string
	for _, w := range st.Workers {
		if w.Generation == gen && w.State != WorkerExited {
			ids = append(ids, fmt.Sprint(w.ID))
		}
	}
	return strings.Join(ids, ",")
}

func answeredBy(res *loadResult, label string) bool {
	for w := range res.workers {
		if strings.Contains(w, label+" ") {
			return true
		}
	}
	return false
}

// TestScaledCountSurvivesReloadAndRestart: the count set by scale holds
// across a reload and a restart of procmon, until the config's workers
// changes, which wins and forgets it.
func TestScaledCountSurvivesReloadAndRestart(t *testing.T) {
	a := newTestApp(t, appSpec{}).start()
	a.scale(3)
	a.waitWorkers(3)
	if _, err := os.Stat(scaleFilePath(a.sup.cfg)); err != nil {
		t.Fatalf("no scale state file: %v", err)
	}

	a.touch()
	st := a.waitStatus(30*time.Second, "reload", func(st Status) bool { return st.Reloads == 1 && st.State == StateReady })
	if !st.LastReload.OK || st.Generation != 2 {
		t.Fatalf("reload: %+v", st.LastReload)
	}
	st = a.waitWorkers(3)
	if ids := workerIDs(st, 2); ids != "1,2,3" || st.Scale.Source != ScaleFromCommand || st.Scale.ConfigWorkers != 2 {
		t.Fatalf("after reload: workers %q, scale %+v; want 1,2,3 set by scale", ids, st.Scale)
	}

	a.stop()
	a.launch()
	a.waitState(StateReady, 20*time.Second)
	st = a.waitWorkers(3)
	if st.Scale.Source != ScaleFromCommand {
		t.Fatalf("after restart: scale %+v, want 3 set by scale", st.Scale)
	}

	a.spec.workers = 4 // the config changes: it wins
	a.writeConfig(a.spec.env)
	a.touch()
	a.waitStatus(30*time.Second, "reload", func(st Status) bool { return st.Reloads == 1 && st.State == StateReady })
	st = a.waitWorkers(4)
	if st.Scale.Source != ScaleFromConfig || st.Scale.ConfigWorkers != 4 {
		t.Fatalf("after the config changed: scale %+v, want 4 from the config", st.Scale)
	}
	if _, err := os.Stat(scaleFilePath(a.sup.cfg)); !os.IsNotExist(err) {
		t.Fatalf("scale state file still there after the config won: %v", err)
	}
}

// TestScaleRefusals: out of range, and during a reload, nothing changes.
func TestScaleRefusals(t *testing.T) {
	a := newTestApp(t, appSpec{}).start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []int{0, -1, maxWorkers + 1} {
		if _, err := a.sup.Scale(ctx, n); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("scale %d: err %v, want out of range", n, err)
		}
	}
	if st := a.sup.Status(); st.Scale.Workers != 2 || st.Scale.Events != 0 {
		t.Fatalf("a refused scale changed the count: %+v", st.Scale)
	}
}

// TestRestartedWorkerKeepsItsSlot: WORKER_ID is a slot. A crashed worker,
// here in a slot added by scale, comes back with the same WORKER_ID (its
// own env says so), a new pid and start time, and the slot's restart
// count; the other workers are untouched.
func TestRestartedWorkerKeepsItsSlot(t *testing.T) {
	a := newTestApp(t, appSpec{backoff: Backoff{Initial: 50 * time.Millisecond}}).start()
	a.scale(3)
	before := a.waitWorkers(3)
	victim := before.Workers[2]
	if victim.ID != 3 {
		t.Fatalf("third worker has id %d", victim.ID)
	}
	killed := time.Now()
	syscall.Kill(victim.PID, syscall.SIGKILL)
	st := a.waitStatus(20*time.Second, "worker 3 restarted and ready", func(st Status) bool {
		w := st.Workers[2]
		return w.PID != victim.PID && w.State == WorkerReady
	})
	w := st.Workers[2]
	if w.ID != 3 || w.Restarts != 1 || !w.Started.After(killed) || !strings.Contains(w.LastExit, "killed") {
		t.Fatalf("restarted worker: %+v", w)
	}
	for i := range 2 {
		if st.Workers[i].PID != before.Workers[i].PID || st.Workers[i].Restarts != 0 {
			t.Fatalf("worker %d changed: %+v", i+1, st.Workers[i])
		}
	}
	const line = "worker 3 of generation 1 listening"
	for i := 0; i < 200 && strings.Count(a.out.String(), line) < 2; i++ {
		time.Sleep(10 * time.Millisecond) // its output may still be in the pipe
	}
	if n := strings.Count(a.out.String(), line); n != 2 {
		t.Fatalf("WORKER_ID=3 started %d times, want 2 (the first and its restart):\n%s", n, a.out)
	}
}

// TestScaleDuringReloadWaitsForIt: procmon scale during a reload (its
// workers still booting, or the settle window after the switch) waits for
// the reload to end and then scales the generation that serves; a caller
// that stops waiting first gets "a reload is still running" and nothing
// changes. Before, both were refused at once, so a `deploy … scale` right
// after a deploy failed for min_uptime.
func TestScaleDuringReloadWaitsForIt(t *testing.T) {
	a := newTestApp(t, appSpec{env: map[string]string{"PMT_BOOT_DELAY": "1s"}}).start()

	a.touch()
	a.waitState(StateReloading, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := a.sup.Scale(ctx, 3)
	if err != nil {
		t.Fatalf("scale during a reload: %v", err)
	}
	st := a.waitWorkers(3)
	if ev.From != 2 || ev.To != 3 || st.Generation != 2 || !st.LastReload.OK {
		t.Fatalf("scale during a reload: event %+v, generation %d, last reload %+v; want 2 → 3 on generation 2 after it served",
			ev, st.Generation, st.LastReload)
	}
	if ids := workerIDs(st, 2); ids != "1,2,3" {
		t.Fatalf("generation 2's workers %q, want 1,2,3", ids)
	}

	a.touch()
	a.waitState(StateReloading, 10*time.Second)
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if _, err := a.sup.Scale(short, 1); err == nil || !strings.Contains(err.Error(), "a reload is still running") {
		t.Fatalf("scale whose caller gives up during a reload: %v, want \"a reload is still running\"", err)
	}
	st = a.waitStatus(30*time.Second, "the second reload", func(st Status) bool { return st.Reloads == 2 && st.State == StateReady })
	st = a.waitWorkers(3)
	if st.Generation != 3 || st.Scale.Workers != 3 {
		t.Fatalf("after a withdrawn scale: generation %d, %d workers; want 3 and 3 (nothing changed)", st.Generation, st.Scale.Workers)
	}
}
