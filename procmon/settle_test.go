package procmon

import (
	"strings"
	"testing"
	"time"
)

// TestReloadWhoseWorkersCrashSoonAfterReadyGoesBack: the new generation
// passes its ready check and takes over, then a worker exits 300 ms
// later (an app that crashes on a database it cannot reach). Within
// ready.min_uptime the old generation, still running, serves again and
// the reload is abandoned; with min_uptime 0 the reload is served and the
// crashing release is all that is left, restarted as it crashes.
func TestReloadWhoseWorkersCrashSoonAfterReadyGoesBack(t *testing.T) {
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		t.Run(string(mode), func(t *testing.T) {
			a := newTestApp(t, appSpec{mode: mode, workers: 2, extra: "[ready]\ntimeout = \"20s\"\nmin_uptime = \"3s\"\n"}).start()
			before := a.sup.Status()
			a.writeConfig(map[string]string{"PMT_CRASH_AFTER": "300ms"})
			res, err := a.sup.Reload(t.Context())
			if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if res.OK || res.Generation != 2 || !strings.Contains(res.Error, "exited with status 4") ||
				!strings.Contains(res.Error, "after generation 2 took over (ready.min_uptime 3s)") {
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
		// nothing runs to go back to: the verdict says so, and the
		// generation is all there is, restarted as it crashes
		a := newTestApp(t, appSpec{workers: 1, env: map[string]string{"PMT_CRASH_AFTER": "300ms"},
			extra: "[ready]\ntimeout = \"20s\"\nmin_uptime = \"3s\"\n"}).withoutCurrent()
		a.launch()
		a.waitState(StateWaiting, 10*time.Second)
		a.link("r1")
		res, err := a.sup.Reload(t.Context())
		if err != nil || res.OK || res.Generation != 1 || !strings.Contains(res.Error, "after generation 1 took over") ||
			!strings.Contains(res.Error, "no older generation runs to go back to") {
			t.Fatalf("first reload: %+v, %v; want abandoned for the exit after it took over", res, err)
		}
		a.waitStatus(20*time.Second, "generation 1's worker restarted", func(st Status) bool {
			return st.Generation == 1 && st.Totals.Restarts[1] > 0
		})
	})
	t.Run("min_uptime 0", func(t *testing.T) {
		a := newTestApp(t, appSpec{workers: 1, extra: "[ready]\ntimeout = \"20s\"\nmin_uptime = \"0\"\n"}).start()
		a.writeConfig(map[string]string{"PMT_CRASH_AFTER": "300ms"})
		res, err := a.sup.Reload(t.Context())
		if err != nil || !res.OK {
			t.Fatalf("reload: %+v, %v; want served at the switch", res, err)
		}
		a.waitStatus(20*time.Second, "generation 2's worker restarted", func(st Status) bool {
			return st.Generation == 2 && st.Totals.Restarts[1] > 0
		})
	})
}
