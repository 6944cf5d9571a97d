package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
)

// gateHook is a hook that says it started, then waits (bounded) for a
// release file: it holds a deploy mid-build for as long as a test needs.
func gateHook(started, release string) string {
	return fmt.Sprintf("touch %s; for i in $(seq 1200); do [ -e %s ] && exit 0; sleep 0.05; done; exit 9", started, release)
}

func ctxMinute(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// A failing build leaves current and the release list as they were, logs
// `failed`, and says which step failed with the hook's output.
func TestFailingBuildLeavesCurrent(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	before, rels := f.current(), f.releases()

	f.origin.commit()
	f.writeINI("pre-deploy echo 'make: *** [build] Error 2' >&2; exit 2")
	r := f.run(ctxMinute(t), "production")
	if r.code == 0 {
		t.Fatal("a failing build exited 0")
	}
	for _, want := range []string{"error:", "pre-deploy", "Error 2"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if f.current() != before || strings.Join(f.releases(), " ") != strings.Join(rels, " ") {
		t.Errorf("current %s releases %v after a failed build; want %s %v", f.current(), f.releases(), before, rels)
	}
	if ev := f.events(); ev[len(ev)-1] != "failed" {
		t.Errorf("last event %q, want failed", ev[len(ev)-1])
	}
	f.writeINI()
	f.mustRun("production") // the lock was freed
}

// A failed step's output, streamed as it came, is printed once more under
// "error:" only where that is not the same place: a terminal or 2>&1 sees
// the lines once, a stderr apart from stdout gets them with the error.
func TestFailedStepOutputShownOnce(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	f.origin.commit()
	f.writeINI("pre-deploy echo 'make: *** [build] Error 2' >&2; exit 2")
	const line = "make: *** [build] Error 2"
	argv := []string{"deploy", "-c", f.conf, "production"}

	both, err := os.Create(filepath.Join(t.TempDir(), "both"))
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	if code := exitCode(ctxMinute(t), run(ctxMinute(t), argv, strings.NewReader(""), both, both), both); code == 0 {
		t.Fatal("a failing build exited 0")
	}
	text, _ := os.ReadFile(both.Name())
	if n := strings.Count(string(text), line); n != 1 || !strings.Contains(string(text), "error: 127.0.0.1: pre-deploy: pre-deploy hook exited with status 2") {
		t.Errorf("stdout and stderr to one file: the hook's line %d times (want 1), or no error line:\n%s", n, text)
	}

	r := f.run(ctxMinute(t), "production")
	if !strings.Contains(r.stdout, line) || !strings.Contains(r.stderr, "error:     "+line) {
		t.Errorf("stdout and stderr apart: the line must be in both:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// A connection killed mid-build (the network drops) leaves current as it
// was; the server cleans up by itself and the next deploy succeeds.
func TestKilledConnectionMidDeploy(t *testing.T) {
	f := newFixture(t)
	cut := sshtest.NewCutter(t, f.sshd.Addr())
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	before := f.current()

	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	f.origin.commit()
	f.viaCutter(cut, "pre-deploy "+gateHook(started, filepath.Join(dir, "never")))

	done := make(chan cliResult, 1)
	go func() { done <- f.run(ctxMinute(t), "production") }()
	waitFile(t, started)
	cut.Cut()
	var r cliResult
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("deploy did not return after its connection was cut")
	}
	if r.code == 0 {
		t.Fatalf("deploy over a cut connection exited 0:\n%s", r.stdout)
	}
	if f.current() != before {
		t.Fatalf("current moved to %s after a cut connection", f.current())
	}
	f.writeINI()
	waitUnlocked(t, f)
	if f.current() != before {
		t.Fatalf("current moved to %s while the server cleaned up", f.current())
	}
	f.mustRun("production")
	if f.current() == before {
		t.Error("the deploy after the cut did not switch")
	}
}

// viaCutter writes the fixture's config with extra lines and its port
// pointing at cut, a proxy in front of sshd whose connections the test
// can sever, which the client's known_hosts trusts.
func (f *fixture) viaCutter(cut *sshtest.Cutter, extra ...string) {
	f.t.Helper()
	f.sshd.AppendKnownHost(f.t, filepath.Join(f.home, ".ssh", "known_hosts"), cut.Addr())
	conf := f.writeINI(extra...)
	text, _ := os.ReadFile(conf)
	writeFile(f.t, conf, strings.Replace(string(text), fmt.Sprintf("port %d", f.sshd.Port()), fmt.Sprintf("port %d", cut.Port()), 1))
}

// waitUnlocked retries a deploy's lock through `unlock` until the server
// side of a dropped deploy has cleaned up (bounded).
func waitUnlocked(t *testing.T, f *fixture) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r := f.run(ctxMinute(t), "production", "unlock")
		if r.code == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the lock of the dropped deploy was never freed")
}

// A second deploy while one runs fails at once naming the holder; with
// --wait it waits and then deploys.
func TestConcurrentDeploys(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	f.writeINI("pre-deploy " + gateHook(started, release))
	first := make(chan cliResult, 1)
	go func() { first <- f.run(ctxMinute(t), "production") }()
	waitFile(t, started)

	r := f.run(ctxMinute(t), "production")
	if r.code == 0 || !strings.Contains(r.stderr, "lock") || !strings.Contains(r.stderr, "since") {
		t.Fatalf("second deploy: exit %d, stderr %q; want a lock error naming holder and time", r.code, r.stderr)
	}
	waiting := make(chan cliResult, 1)
	go func() { waiting <- f.run(ctxMinute(t), "production", "--wait") }()
	time.Sleep(500 * time.Millisecond)
	select {
	case r := <-waiting:
		t.Fatalf("--wait returned while the lock was held: %+v", r)
	default:
	}
	writeFile(t, release, "")
	for _, ch := range []chan cliResult{first, waiting} {
		if r := <-ch; r.code != 0 {
			t.Fatalf("deploy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	if n := len(f.events()); n != 2 {
		t.Errorf("%d events, want 2 deploys: %v", n, f.events())
	}
}

// Host keys: unknown is refused with the fingerprint and a hint naming
// trust, --accept-new records it (the user asked for that command), a
// changed key is refused even with --accept-new.
func TestHostKeys(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	if err := os.Remove(filepath.Join(f.home, ".ssh", "known_hosts")); err != nil {
		t.Fatal(err)
	}
	r := f.run(ctxMinute(t), "production", "setup")
	if r.code == 0 || !strings.Contains(r.stderr, "SHA256:") || !strings.Contains(r.stderr, "'deploy production trust'") {
		t.Fatalf("unknown host key: exit %d, stderr %q; want refusal with fingerprint and hint", r.code, r.stderr)
	}
	if _, err := os.Stat(f.path); err == nil {
		t.Fatal("setup ran on a host whose key is unknown")
	}
	f.mustRun("production", "setup", "--accept-new")
	f.mustRun("production", "setup") // now known

	f.sshd.RotateHostKey()
	for _, args := range [][]string{{"production", "list"}, {"production", "list", "--accept-new"}} {
		r := f.run(ctxMinute(t), args...)
		if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "changed") {
			t.Errorf("changed host key with %v: exit %d, stderr %q; want a loud refusal", args, r.code, r.stderr)
		}
	}
}

// ProxyJump: the target is only named through ~/.ssh/config, reached via a
// second sshd, with the same host key checks on both hops.
func TestProxyJump(t *testing.T) {
	f := newFixture(t)
	jump := sshtest.Start(t, sshtest.Options{})
	jump.AuthorizeKey(t, f.sshd.ClientKey().Public())
	cfg := fmt.Sprintf("Host target\n  HostName 127.0.0.1\n  Port %d\n  ProxyJump jumpbox\n\nHost jumpbox\n  HostName 127.0.0.1\n  Port %d\n",
		f.sshd.Port(), jump.Port())
	f.home = sshtest.FakeHome(t, cfg, f.sshd, jump)
	useHome(t, f.home)
	conf := f.writeINI()
	text, _ := os.ReadFile(conf)
	s := strings.Replace(string(text), "host 127.0.0.1\n", "host target\n", 1)
	s = strings.Replace(s, fmt.Sprintf("port %d\n", f.sshd.Port()), "", 1)
	writeFile(t, conf, s)
	f.mustRun("production", "setup")
	f.mustRun("production")
	if f.current() == "" {
		t.Fatal("deploy through the jump host did not switch current")
	}
	if !strings.Contains(jump.Logs(), "Accepted publickey") {
		t.Error("the jump host's log shows no login: the connection did not go through it")
	}
}
