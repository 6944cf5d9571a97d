package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
)

// killAtStep runs the deploy binary with args and SIGKILLs it as soon as
// its output shows that step starting (a crash, a closed lid or a dropped
// VPN at that moment). It returns whether the step was seen.
func killAtStep(t *testing.T, bin, home, step string, args ...string) bool {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(homeEnv(home), "SSH_AUTH_SOCK=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			if !found && strings.HasSuffix(sc.Text(), "==> "+step) {
				found = true
				_ = cmd.Process.Signal(syscall.SIGKILL)
				seen <- true
			}
		}
		if !found {
			seen <- false
		}
	}()
	var ok bool
	select {
	case ok = <-seen:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		ok = <-seen
	}
	_ = cmd.Wait()
	return ok
}

// waitAgree waits (bounded) until the deploy lock is free, and then until
// current, the last .deploys event and what procmon serves agree: procmon
// answers with current's VERSION, and .deploys ends in an event for
// current (a deploy or revert) or in a failed release that never went live.
func waitAgree(t *testing.T, f *fixture, listen, step string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var why string
	for time.Now().Before(deadline) {
		why = disagreement(f, listen)
		if why == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("killed at %s: 60 s later the server still disagrees with itself: %s", step, why)
}

// disagreement says how the server's state disagrees ("" = it agrees).
func disagreement(f *fixture, listen string) string {
	if lock, _ := os.ReadFile(filepath.Join(f.path, ".deploy.lock")); len(lock) > 0 {
		return "the lock is held: " + strings.TrimSpace(string(lock))
	}
	cur := f.current()
	ver, err := os.ReadFile(filepath.Join(f.path, "current", "VERSION"))
	if err != nil {
		return "current has no VERSION: " + err.Error()
	}
	want := "hello from " + strings.TrimSpace(string(ver))
	if got := answer(listen); got != want {
		return fmt.Sprintf("current is %s (%s) but procmon answers %q", cur, want, got)
	}
	log, _ := os.ReadFile(filepath.Join(f.path, ".deploys"))
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	last := strings.Split(lines[len(lines)-1], "\t")
	if len(last) < 4 || (last[1] != cur && last[3] != "failed") {
		return fmt.Sprintf("current is %s but .deploys ends with %q", cur, lines[len(lines)-1])
	}
	return ""
}

// TestKilledClientAtEachStep: whichever step the laptop dies in, the host
// ends consistent: no lock, and current, .deploys and what the real procmon
// serves agree (the old release before the switch; after it, the new one
// once its gate passed).
func TestKilledClientAtEachStep(t *testing.T) {
	bin := buildDeploy(t)
	f, listen := newProcmonFixture(t, "pre-deploy sleep 1", "post-deploy sleep 1")
	for _, step := range []string{"fetch", "checkout", "pre-deploy", "switch", "restart", "post-deploy"} {
		f.origin.commit()
		if !killAtStep(t, bin, f.home, step, "-c", f.conf, "production") {
			t.Fatalf("the deploy never showed step %s", step)
		}
		waitAgree(t, f, listen, step)
	}
}

// TestFleetKilledClientAtEachStep: a three-host batch-1 fleet whose laptop
// dies at any step ends with every host on the release it had: nothing was
// committed, so switched hosts put themselves back and the others never
// switch.
func TestFleetKilledClientAtEachStep(t *testing.T) {
	bin := buildDeploy(t)
	f, hosts := newFleetFixture(t, "batch 1", "pre-deploy sleep 1", "post-deploy sleep 1")
	f.mustRun("production", "setup")
	f.mustRun("production")
	first := make([]string, len(hosts))
	for i, h := range hosts {
		first[i] = releaseOn(t, h)
	}
	for _, step := range []string{"fetch", "pre-deploy", "switch", "post-deploy"} {
		f.origin.commit()
		if !killAtStep(t, bin, f.home, step, "-c", f.conf, "production") {
			t.Fatalf("the deploy never showed step %s", step)
		}
		for i, h := range hosts {
			waitHostSettled(t, h, first[i])
		}
	}
}

// newProcmonFixture is a one-host fixture whose app (examples/python-hello)
// is served by a real procmon started before the first deploy, which it
// gates; it returns the fixture after that deploy, and procmon's address.
func newProcmonFixture(t *testing.T, extra ...string) (*fixture, string) {
	t.Helper()
	f, pm := newPythonAppFixture(t)
	dir := t.TempDir()
	listen, pmConf := freeport.Addr(t), filepath.Join(dir, "app.toml")
	writeFile(t, pmConf, fmt.Sprintf("name = \"kill\"\ndir = %q\ncommand = [\"python3\", \"app.py\"]\nworkers = 2\nlisten = %q\n"+
		"socket = %q\nstop_timeout = \"5s\"\n[ready]\ncheck = \"http\"\npath = \"/health\"\ntimeout = \"15s\"\n",
		filepath.Join(f.path, "current"), listen, filepath.Join(dir, "pm.sock")))
	f.writeINI(append([]string{"procmon " + pmConf, "env DEPLOY_PROCMON=" + pm}, extra...)...)
	f.mustRun("production", "setup")
	startProcmon(t, pm, pmConf)
	f.mustRun("production")
	waitAnswer(t, listen, "hello from v2")
	return f, listen
}
