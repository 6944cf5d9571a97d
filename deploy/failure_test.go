package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deployed returns a server set up with one successful deploy.
func deployed(t *testing.T) (*origin, *server, *Result) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.setup()
	return o, s, s.deploy()
}

// assertUntouched checks the aftermath of a deploy that failed or was
// aborted before the switch: current unchanged, the release removed,
// `failed` logged, the lock free.
func assertUntouched(t *testing.T, s *server, first *Result) {
	t.Helper()
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s (unchanged)", s.current(), first.NewRelease)
	}
	if got := s.releases(); len(got) != 1 || got[0] != first.NewRelease {
		t.Errorf("releases = %v, want only %s (half-made release removed)", got, first.NewRelease)
	}
	log := s.log()
	if last := log[len(log)-1]; last.Event != EventFailed {
		t.Errorf("last .deploys entry = %+v, want failed", last)
	}
	if s.lockLine() != "" {
		t.Errorf("lock holder line left: %q", s.lockLine())
	}
	// The lock is free: a new deploy goes through.
	s.env.PreDeploy, s.env.Test = "", ""
	s.deploy()
}

func TestFailingPreDeploy(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	s.env.PreDeploy = "echo building; echo 'npm ERR! boom' >&2; exit 3"
	res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "pre-deploy" || se.Host != "local" {
		t.Fatalf("err = %#v, want a pre-deploy StepError", err)
	}
	if !strings.Contains(se.Message, "status 3") || !strings.Contains(strings.Join(se.Output, "\n"), "npm ERR! boom") {
		t.Errorf("error lacks the status or the hook's output: %v", err)
	}
	if !strings.Contains(err.Error(), "local: pre-deploy: pre-deploy hook exited with status 3: current is unchanged") {
		t.Errorf("error text = %q", err)
	}
	if res.Switched || res.OldRelease != first.NewRelease {
		t.Errorf("result = %+v", res)
	}
	assertUntouched(t, s, first)
}

func TestAbortBeforeSwitch(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	r, res, err := Prepare(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.env.Path, "releases", res.NewRelease, "REVISION")); err != nil {
		t.Fatalf("prepared release missing: %v", err)
	}
	if err := r.Abort(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	assertUntouched(t, s, first)
}

// TestCancelMidBuild is Ctrl-C or a dropped connection during the build:
// the client closes the control channel, the server kills the hook and
// cleans up at once.
func TestCancelMidBuild(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	dir := t.TempDir()
	started, never := filepath.Join(dir, "started"), filepath.Join(dir, "never")
	s.env.PreDeploy = gateHook(started, never) + "; touch '" + filepath.Join(dir, "finished") + "'"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		waitFile(t, started)
		cancel()
	}()
	begin := time.Now()
	_, err := Deploy(ctx, s.conn, s.env, s.opts())
	if err == nil {
		t.Fatal("deploy succeeded after cancel")
	}
	if took := time.Since(begin); took > 25*time.Second {
		t.Errorf("abort took %v: the hook was not stopped", took)
	}
	if !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err = %v, want it to say interrupted", err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "finished")); err == nil {
		t.Error("the hook ran to its end after the abort")
	}
	assertUntouched(t, s, first)
}

func TestFailingTestRevertsToPrevious(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	s.env.Test = "echo 'smoke test failed'; exit 1"
	s.env.RestartFile = "tmp/restart.txt"
	restarts := filepath.Join(t.TempDir(), "restarts")
	s.env.PostDeploy = `echo "$DEPLOY_SHA $(basename "$DEPLOY_RELEASE")" >> '` + restarts + `'`
	res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "test" || !strings.Contains(se.Message, "reverted to "+first.NewRelease) {
		t.Fatalf("err = %v, want a test failure that reverted", err)
	}
	if !res.Switched || !res.Reverted || s.current() != first.NewRelease {
		t.Fatalf("result %+v, current %s", res, s.current())
	}
	// The reverted-to release was restarted.
	if _, err := os.Stat(filepath.Join(s.env.Path, "releases", first.NewRelease, "tmp/restart.txt")); err != nil {
		t.Errorf("previous release not restarted: %v", err)
	}
	log := s.log()
	// The release that failed its test is logged failed once put back, so
	// that no later revert goes back to it.
	if n := len(log); log[n-3].Event != EventDeploy || log[n-2].Event != EventFailed ||
		log[n-2].Release != res.NewRelease || log[n-1].Event != EventRevert ||
		log[n-1].Release != first.NewRelease || log[n-1].SHA != first.NewSHA || log[n-1].Ref != "main" {
		t.Errorf("log tail = %+v", log[n-3:])
	}
	// post-deploy ran for the new release, then for the one reverted to.
	data, _ := os.ReadFile(restarts)
	want := res.NewSHA + " " + res.NewRelease + "\n" + first.NewSHA + " " + first.NewRelease + "\n"
	if string(data) != want {
		t.Errorf("post-deploy runs = %q, want %q", data, want)
	}
	// -T skips the test.
	o.commit(nil)
	opts := s.opts()
	opts.NoTests = true
	if _, err := Deploy(ctxFor(t), s.conn, s.env, opts); err != nil {
		t.Fatalf("deploy with NoTests: %v", err)
	}
}

func TestHoldCommitAndRevert(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	opts := s.opts()
	opts.Hold = true
	r, _, err := Prepare(ctxFor(t), s.conn, s.env, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Switch()
	if err != nil || !res.Switched || s.current() != res.NewRelease {
		t.Fatalf("switch: %+v, %v", res, err)
	}
	if s.lockLine() == "" {
		t.Error("lock not held while the gate is pending")
	}
	res, err = r.Revert()
	if err != nil || !res.Reverted || s.current() != first.NewRelease {
		t.Fatalf("revert: %+v, %v, current %s", res, err, s.current())
	}
	o.commit(nil)
	r, _, err = Prepare(ctxFor(t), s.conn, s.env, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Switch(); err != nil {
		t.Fatal(err)
	}
	res, err = r.Commit()
	if err != nil || res.Reverted || s.current() != res.NewRelease || s.lockLine() != "" {
		t.Fatalf("commit: %+v, %v", res, err)
	}
}

// TestScriptErrorsInOutput: a failing command of the script itself (not a
// hook) has its error message in the failed step's output.
func TestScriptErrorsInOutput(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	s.env.Shared = []string{"app.txt/sub"} // app.txt is a file in the release
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "shared" || !strings.Contains(strings.Join(se.Output, "\n"), "mkdir") {
		t.Fatalf("err = %v, want the shared step failing with mkdir's message", err)
	}
	s.env.Shared = nil
	assertUntouched(t, s, first)
}
