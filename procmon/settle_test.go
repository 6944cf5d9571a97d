package procmon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reloadThenCrash starts a reload of a, waits until its new generation
// gen took over, then makes one of its workers exit (the test worker's
// PMT_CRASH_ON file) and returns the reload's verdict.
func reloadThenCrash(t *testing.T, a *testApp, gen int) ReloadResult {
	t.Helper()
	verdict := make(chan ReloadResult, 1)
	go func() {
		res, err := a.sup.Reload(t.Context())
		if err != nil {
			t.Errorf("Reload: %v", err)
		}
		verdict <- res
	}()
	a.waitStatus(20*time.Second, "the new generation took over", func(st Status) bool { return st.Generation == gen })
	must(t, os.WriteFile(filepath.Join(a.release, "crash-now"), nil, 0o644))
	select {
	case res := <-verdict:
		return res
	case <-time.After(30 * time.Second):
		t.Fatalf("no verdict 30 s after the crash; status %+v", a.sup.Status())
	}
	return ReloadResult{}
}

// TestReloadWhoseWorkersCrashSoonAfterReadyGoesBack: the new generation
// passes its ready check and takes over, then a worker exits (an app that
// crashes on a database it cannot reach). Within ready.min_uptime the old
// generation, still running, serves again and the reload is abandoned;
// on the first deploy there is nothing to go back to, and the verdict
// says so; with min_uptime 0 the reload is served at the switch and the
// crashing release is all that is left, restarted as it crashes.
func TestReloadWhoseWorkersCrashSoonAfterReadyGoesBack(t *testing.T) {
	const window = "[ready]\ntimeout = \"20s\"\nmin_uptime = \"30s\"\n"
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		t.Run(string(mode), func(t *testing.T) {
			a := newTestApp(t, appSpec{mode: mode, workers: 2, extra: window}).start()
			before := a.sup.Status()
			a.writeConfig(map[string]string{"PMT_CRASH_ON": "crash-now"})
			res := reloadThenCrash(t, a, 2)
			if res.OK || res.Generation != 2 || !strings.Contains(res.Error, "exited with status 4") ||
				!strings.Contains(res.Error, "after generation 2 took over (ready.min_uptime 30s)") {
				t.Fatalf("reload result %+v, want generation 2 abandoned for its exit after it took over", res)
			}
			st := a.waitStatus(20*time.Second, "generation 2 gone", func(st Status) bool { return len(st.Workers) == 2 })
			if st.Generation != 1 || st.State != StateReady || st.LastReload.OK {
				t.Fatalf("status after the abandoned reload: %+v", st)
			}
			for i, w := range st.Workers {
				if w.Generation != 1 || w.PID != before.Workers[i].PID || w.State != WorkerReady {
					t.Fatalf("worker %d: %+v, want generation 1's, unchanged: %+v", i, w, before.Workers[i])
				}
			}
			stop := startLoad(a.url("/"), 4, 400, 20*time.Second)
			time.Sleep(500 * time.Millisecond)
			load := stop()
			if load.failed != 0 || load.ok == 0 {
				t.Fatalf("after the verdict: %d ok, %d failed: %q", load.ok, load.failed, load.errs)
			}
			if gens := load.generations(); len(gens) != 1 || !gens["gen=1"] {
				t.Fatalf("answers came from %v, want only gen=1", gens)
			}
		})
	}
	t.Run("first deploy", func(t *testing.T) {
		a := newTestApp(t, appSpec{workers: 1, env: map[string]string{"PMT_CRASH_ON": "crash-now"}, extra: window}).withoutCurrent()
		a.launch()
		a.waitState(StateWaiting, 10*time.Second)
		a.link("r1")
		res := reloadThenCrash(t, a, 1)
		if res.OK || res.Generation != 1 || !strings.Contains(res.Error, "after generation 1 took over") ||
			!strings.Contains(res.Error, "no older generation runs to go back to") {
			t.Fatalf("first reload: %+v; want abandoned for the exit after it took over", res)
		}
		a.waitStatus(20*time.Second, "generation 1's worker restarted", func(st Status) bool {
			return st.Generation == 1 && st.Totals.Restarts[1] > 0
		})
	})
	t.Run("min_uptime 0", func(t *testing.T) {
		a := newTestApp(t, appSpec{workers: 1, extra: "[ready]\ntimeout = \"20s\"\nmin_uptime = \"0\"\n"}).start()
		a.writeConfig(map[string]string{"PMT_CRASH_ON": "crash-now"})
		res, err := a.sup.Reload(t.Context())
		if err != nil || !res.OK {
			t.Fatalf("reload: %+v, %v; want served at the switch", res, err)
		}
		must(t, os.WriteFile(filepath.Join(a.release, "crash-now"), nil, 0o644))
		a.waitStatus(20*time.Second, "generation 2's worker restarted", func(st Status) bool {
			return st.Generation == 2 && st.Totals.Restarts[1] > 0
		})
	})
}
