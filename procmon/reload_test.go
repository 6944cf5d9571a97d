package procmon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// TestFailedReloadKeepsOldGeneration: a new generation that never becomes
// ready, crashes at boot, or comes from a config that no longer validates
// is abandoned, and the old one serves every request meanwhile.
func TestFailedReloadKeepsOldGeneration(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		extra   string
		wantErr string
	}{
		{name: "never ready", env: map[string]string{"PMT_NEVER_READY": "1"}, extra: "[ready]\ntimeout = \"1500ms\"\n", wantErr: "not ready within ready.timeout"},
		{name: "crash at boot", env: map[string]string{"PMT_CRASH_AT_BOOT": "1"}, wantErr: "exited with status 3 before it was ready"},
		{name: "config no longer valid", extra: "wokers = 3\n", wantErr: `unknown key "wokers"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, appSpec{}).start()
			before := a.sup.Status()
			a.spec.extra = tc.extra
			a.writeConfig(tc.env)
			stop := startLoad(a.url("/"), 4, 100000, 60*time.Second)
			time.Sleep(100 * time.Millisecond)
			res, err := a.sup.Reload(t.Context())
			load := stop()
			if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if res.OK || !strings.Contains(res.Error, tc.wantErr) {
				t.Fatalf("reload result %+v, want failed with %q", res, tc.wantErr)
			}
			if load.failed != 0 || load.ok == 0 {
				t.Fatalf("during the failed reload: %d ok, %d failed: %q", load.ok, load.failed, load.errs)
			}
			if gens := load.generations(); len(gens) != 1 || !gens["gen=1"] {
				t.Fatalf("answers came from %v, want only gen=1", gens)
			}
			st := a.waitStatus(20*time.Second, "the failed generation gone", func(st Status) bool { return len(st.Workers) == 2 })
			if st.Generation != 1 || st.State != StateReady || st.LastReload.OK || st.Reloads != 1 {
				t.Fatalf("status after the failed reload: %+v", st)
			}
			for i, w := range st.Workers {
				if w.PID != before.Workers[i].PID {
					t.Fatalf("worker %d changed: %+v, was %+v", i, w, before.Workers[i])
				}
			}
			// Fixed, the next reload goes through.
			a.spec.extra = ""
			a.writeConfig(nil)
			if res, err := a.sup.Reload(t.Context()); err != nil || !res.OK {
				t.Fatalf("reload after the fix: %+v, %v", res, err)
			}
		})
	}
}

// TestTriggersDuringReloadCoalesce: five triggers in 200 ms during a
// reload make exactly one more reload, and a caller waiting among them
// gets that reload's verdict.
func TestTriggersDuringReloadCoalesce(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1}).start()
	a.writeConfig(map[string]string{"PMT_BOOT_DELAY": "1500ms"})
	a.touch()
	a.waitState(StateReloading, 10*time.Second)
	waited := make(chan ReloadResult, 1)
	for i := range 5 {
		switch i {
		case 2:
			go func() {
				r, err := a.sup.Reload(t.Context())
				if err != nil {
					t.Errorf("Reload: %v", err)
				}
				waited <- r
			}()
		case 4:
			a.sup.ReloadAsync("signal")
		default:
			a.touch()
		}
		time.Sleep(40 * time.Millisecond)
	}
	var r ReloadResult
	select {
	case r = <-waited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the waiting Reload got no verdict; status %+v", a.sup.Status())
	}
	if !r.OK || r.Generation != 3 {
		t.Fatalf("the waiting caller got %+v, want generation 3 ok", r)
	}
	time.Sleep(time.Second) // nothing else may be queued
	st := a.sup.Status()
	if st.Reloads != 2 || st.Generation != 3 || st.State != StateReady {
		t.Fatalf("after 1 + 5 triggers: %d reloads, generation %d, state %s; want 2, 3, ready", st.Reloads, st.Generation, st.State)
	}
}

// TestReloadResolvesCurrent: each generation runs in the release `current`
// points at when it starts; old workers keep their own directory.
func TestReloadResolvesCurrent(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1}).start()
	a.newRelease("r2")
	a.link("r2")
	// deploy switches current, then touches the restart file in the new release
	time.Sleep(100 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(a.root, "releases", "r2", "tmp", "restart.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(20*time.Second, "generation 2", func(st Status) bool { return st.Generation == 2 && st.State == StateReady })
	_, _, body, err := get(httpClient(), a.url("/"))
	if err != nil || !strings.Contains(body, "dir=r2") {
		t.Fatalf("after the switch: %q, %v; want an answer from releases/r2", body, err)
	}
}

// TestReloadRereadsConfig: a changed workers count and env take effect
// with the next generation, without restarting procmon.
func TestReloadRereadsConfig(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1}).start()
	a.spec.workers = 3
	a.writeConfig(map[string]string{"PMT_REQ_DELAY": "1ms"})
	res, err := a.sup.Reload(t.Context())
	if err != nil || !res.OK {
		t.Fatalf("reload: %+v, %v", res, err)
	}
	st := a.waitStatus(20*time.Second, "3 workers of generation 2", func(st Status) bool { return len(st.Workers) == 3 })
	for _, w := range st.Workers {
		if w.Generation != 2 || w.State != WorkerReady {
			t.Fatalf("worker after the reload: %+v", w)
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w.PID))
		if err != nil || !strings.Contains(string(env), "PMT_REQ_DELAY=1ms\x00") {
			t.Fatalf("worker %d does not have the new env (%v)", w.PID, err)
		}
	}
}

// TestStatusDirIsTheServingRelease: status names the directory the
// serving generation runs in, not the one current points at: after a
// switch without a reload, and after a reload that failed, it still names
// the old release; after a served reload, the new one.
func TestStatusDirIsTheServingRelease(t *testing.T) {
	td := startDaemon(t, newTestApp(t, appSpec{workers: 1, extra: "[ready]\ntimeout = \"3s\"\n"}))
	a := td.testApp
	dirOf := func() string {
		t.Helper()
		st, err := td.client.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st.Dir
	}
	r1 := filepath.Join(a.root, "releases", "r1")
	if got := dirOf(); got != r1 {
		t.Fatalf("status dir %q, want %q", got, r1)
	}
	a.newRelease("r2")
	a.link("r2")
	if got := dirOf(); got != r1 {
		t.Errorf("current switched without a reload: status dir %q, want still %q", got, r1)
	}
	a.writeConfig(map[string]string{"PMT_CRASH_AT_BOOT": "1"})
	if r := td.reload(t); r.Outcome != control.OutcomeAbandoned {
		t.Fatalf("reload of a crashing release: %+v", r)
	}
	if got := dirOf(); got != r1 {
		t.Errorf("after a failed reload: status dir %q, want still %q", got, r1)
	}
	a.writeConfig(nil)
	if r := td.reload(t); r.Outcome != control.OutcomeServed {
		t.Fatalf("reload: %+v", r)
	}
	if got, r2 := dirOf(), filepath.Join(a.root, "releases", "r2"); got != r2 {
		t.Errorf("after the served reload: status dir %q, want %q", got, r2)
	}
}
