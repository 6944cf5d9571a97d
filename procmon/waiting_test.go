package procmon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// withoutCurrent removes the app's `current`, as before its first deploy.
func (a *testApp) withoutCurrent() *testApp {
	a.t.Helper()
	must(a.t, os.Remove(filepath.Join(a.root, "current")))
	return a
}

// waitLifecycle waits up to 5s for the READY/RELOADING/STOPPING sequence
// to be want, and returns the STATUS= lines.
func (td *testDaemon) waitLifecycle(t *testing.T, want string) []string {
	t.Helper()
	seq, _, statuses := td.lifecycle(t)
	for deadline := time.Now().Add(5 * time.Second); strings.Join(seq, " ") != want && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		seq, _, statuses = td.lifecycle(t)
	}
	if got := strings.Join(seq, " "); got != want {
		t.Errorf("sd_notify sequence:\n got %s\nwant %s", got, want)
	}
	return statuses
}

// TestWaitingForFirstDeploy starts procmon before the first deploy, as
// the README's steps do: it waits instead of failing, tells systemd it is
// up, answers 503, lets no heartbeat reload a dir that is not there,
// refuses a reload with the reason while dir is missing, and serves once
// the deploy created current and reloaded.
func TestWaitingForFirstDeploy(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 2, extra: "[heartbeat]\ninterval = \"100ms\"\ntimeout = \"1s\"\nguard = \"0s\"\n"}).withoutCurrent()
	td := launchDaemon(t, a)
	st := a.waitState(StateWaiting, 10*time.Second)
	if st.Generation != 0 || len(st.Workers) != 0 {
		t.Fatalf("waiting status: %+v", st)
	}
	td.waitLifecycle(t, "READY")
	cs := td.waitDaemonStatus(t, "waiting", func(s control.Status) bool { return s.State == control.StateWaiting })
	if cs.Generation != 0 || len(cs.Workers) != 0 || cs.Dir != "" {
		t.Errorf("control status while waiting: %+v", cs)
	}
	if code, _, _, err := get(httpClient(), a.url("/")); code != http.StatusServiceUnavailable {
		t.Errorf("GET while waiting: %d %v, want 503", code, err)
	}
	time.Sleep(600 * time.Millisecond) // six heartbeat intervals
	if st := a.sup.Status(); st.State != StateWaiting || st.Reloads != 0 || st.Heartbeat.ReloadsTriggered != 0 || !st.Heartbeat.LastAt.IsZero() {
		t.Fatalf("the heartbeat acted while waiting: %+v", st)
	}

	r := td.reload(t)
	want := "dir " + filepath.Join(a.root, "current") + " does not exist yet: deploy first"
	if r.Outcome != control.OutcomeAbandoned || r.Generation != 0 || r.Serving != 0 || r.Reason != want ||
		control.ExitCode(r, nil) != control.ExitAbandoned {
		t.Fatalf("reload before the first deploy: %+v, want reason %q", r, want)
	}
	if st := a.sup.Status(); st.State != StateWaiting {
		t.Fatalf("state after a refused reload: %s", st.State)
	}

	a.link("r1") // the first deploy switches current, then reloads
	r = td.reload(t)
	if r.Outcome != control.OutcomeServed || r.Generation != 1 || r.Serving != 1 || control.ExitCode(r, nil) != control.ExitOK {
		t.Fatalf("reload after the first deploy: %+v\n%s", r, td.stderr)
	}
	if code, _, body, err := get(httpClient(), a.url("/")); code != 200 || !strings.Contains(body, "gen=1 ") {
		t.Fatalf("GET after the first deploy: %d %q %v", code, body, err)
	}
	a.waitState(StateReady, 5*time.Second)
	a.waitStatus(5*time.Second, "a heartbeat check", func(st Status) bool { return st.Heartbeat.LastOK })
	td.stop()
	statuses := td.waitLifecycle(t, "READY READY RELOADING READY STOPPING")
	if all := strings.Join(statuses, "\n"); !strings.Contains(all, "waiting for the first deploy: no worker runs yet; a reload starts them\n") ||
		!strings.Contains(all, "; reload abandoned: "+want) || !strings.Contains(all, "ready: generation 1, 2/2 workers ready") {
		t.Errorf("STATUS= lines: %q", statuses)
	}
	if !strings.Contains(td.stderr.String(), "dir does not exist yet: waiting for the first deploy") {
		t.Errorf("no log line says procmon waits:\n%s", td.stderr)
	}
}

// TestWaitingRestartFileStartsFirstGeneration: neither current nor its
// parent's releases exist at start; the first release with its restart
// file touched after the switch (deploy's restart-file key) starts the
// workers.
func TestWaitingRestartFileStartsFirstGeneration(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1}).withoutCurrent()
	must(t, os.RemoveAll(filepath.Join(a.root, "releases")))
	a.launch()
	a.waitState(StateWaiting, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	a.newRelease("r1")
	a.link("r1")
	a.touch()
	st := a.waitState(StateReady, 20*time.Second)
	if st.Generation != 1 || st.LastReload.Trigger != "file" || !st.LastReload.OK {
		t.Fatalf("status: %+v", st)
	}
	if code, _, body, err := get(httpClient(), a.url("/")); code != 200 || !strings.Contains(body, "gen=1 ") {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
}

// TestWaitingFirstGenerationCrashIsNoCrashLoop: the first generation
// crashing at boot is an abandoned reload, not a crash loop: procmon
// keeps waiting, restarts nothing, and the next reload starts it.
func TestWaitingFirstGenerationCrashIsNoCrashLoop(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1, backoff: Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}}).withoutCurrent()
	a.launch()
	a.waitState(StateWaiting, 10*time.Second)
	crash := filepath.Join(a.release, "crash")
	must(t, os.WriteFile(crash, nil, 0o644))
	a.link("r1")
	r, err := a.sup.Reload(context.Background())
	if err != nil || r.OK || r.Generation != 1 || !strings.Contains(r.Error, "before it was ready") {
		t.Fatalf("reload of a crashing release: %+v %v", r, err)
	}
	time.Sleep(500 * time.Millisecond) // ten backoffs: room for a restart loop
	st := a.sup.Status()
	if st.State != StateWaiting || len(st.Workers) != 0 || st.Reloads != 1 {
		t.Fatalf("after the crash: %+v\n%s", st, a.out)
	}
	must(t, os.Remove(crash))
	if r, err := a.sup.Reload(context.Background()); err != nil || !r.OK || r.Generation != 2 {
		t.Fatalf("reload after the fix: %+v %v", r, err)
	}
	a.waitState(StateReady, 5*time.Second)
}

// TestDirAtStart: only a dir that does not exist makes procmon wait (its
// parent missing, or current pointing nowhere, included); any other
// error resolving it still fails the start.
func TestDirAtStart(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(root string) string // returns dir
		reason  string                   // the waiting reload's reason; "" = Run fails
	}{
		{"current missing", func(root string) string { return filepath.Join(root, "current") },
			"current does not exist yet: deploy first"},
		{"parent missing", func(root string) string { return filepath.Join(root, "www", "app", "current") },
			"current does not exist yet (" + "ROOT/www is missing): deploy first"},
		{"current dangling", func(root string) string {
			must(t, os.Symlink(filepath.Join(root, "releases", "gone"), filepath.Join(root, "current")))
			return filepath.Join(root, "current")
		}, "current does not exist yet (ROOT/releases is missing): deploy first"},
		{"parent is a file", func(root string) string {
			must(t, os.WriteFile(filepath.Join(root, "file"), nil, 0o644))
			return filepath.Join(root, "file", "current")
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			sup := newJobSupervisor(t, root, tc.prepare(root))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- sup.Run(ctx) }()
			if tc.reason == "" {
				err := <-done
				cancel()
				if err == nil || !strings.Contains(err.Error(), `key "dir"`) || !strings.Contains(err.Error(), "not a directory") {
					t.Fatalf("Run: %v, want the dir error", err)
				}
				return
			}
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			for deadline := time.Now().Add(10 * time.Second); sup.Status().State != StateWaiting && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			r, err := sup.Reload(ctx)
			want := strings.ReplaceAll(tc.reason, "ROOT", root)
			if err != nil || r.OK || !strings.HasSuffix(r.Error, want) || sup.Status().State != StateWaiting {
				t.Fatalf("reload: %+v %v, state %s; want a reason ending %q", r, err, sup.Status().State, want)
			}
		})
	}
}

// newJobSupervisor is a Supervisor of one port-less worker (mode none)
// in dir.
func newJobSupervisor(t *testing.T, root, dir string) *Supervisor {
	t.Helper()
	exe, err := os.Executable()
	must(t, err)
	text := fmt.Sprintf("name = \"job\"\ndir = %q\ncommand = [%q]\nmode = \"none\"\nsocket = %q\nenv = { PMT_WORKER = \"1\", PMT_NO_PORT = \"1\" }\n",
		dir, exe, filepath.Join(root, "job.sock"))
	path := filepath.Join(root, "job.toml")
	must(t, os.WriteFile(path, []byte(text), 0o644))
	cfg, err := LoadConfig(path)
	must(t, err)
	sup, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	return sup
}

// TestStopWhileWaiting: a procmon that never got its first deploy stops
// cleanly and lets go of its port, in proxy and in socket mode.
func TestStopWhileWaiting(t *testing.T) {
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		t.Run(string(mode), func(t *testing.T) {
			a := newTestApp(t, appSpec{mode: mode, workers: 1}).withoutCurrent()
			a.launch()
			a.waitState(StateWaiting, 10*time.Second)
			if code, _, _, err := get(httpClient(), a.url("/")); code != http.StatusServiceUnavailable {
				t.Fatalf("GET while waiting: %d %v", code, err)
			}
			a.stop() // fails the test when Run errs or hangs
			if st := a.sup.Status(); st.State != StateStopped {
				t.Errorf("state after stop: %s", st.State)
			}
			if c, err := net.DialTimeout("tcp", a.listen, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still accepts after stop", a.listen)
			}
		})
	}
}
