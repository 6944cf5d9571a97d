package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSSHMaster starts the user's ssh master for alias, as ssh_config in
// home/.ssh/config sets it up (ssh -N -f, ControlPersist), with env (an
// SSH_ASKPASS for a second factor), and stops it when the test ends. It
// returns a function that runs ssh with home's config, key and
// known_hosts and more args (-O exit).
func startSSHMaster(t *testing.T, home, alias string, env []string) func(args ...string) *exec.Cmd {
	t.Helper()
	ssh := func(args ...string) *exec.Cmd {
		c := exec.Command("ssh", append([]string{"-F", filepath.Join(home, ".ssh", "config"), "-i", filepath.Join(home, ".ssh", "id_ed25519"),
			"-o", "UserKnownHostsFile=" + filepath.Join(home, ".ssh", "known_hosts")}, args...)...)
		c.Env = env
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return c
	}
	if out, err := ssh("-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-N", "-f", alias).CombinedOutput(); err != nil {
		t.Fatalf("premise: the ssh master: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = ssh("-O", "exit", alias).Run() })
	return ssh
}

// TestInterruptThroughControlMaster: Ctrl-C during a deploy whose
// sessions go through the user's ssh master (ssh_config ControlPath)
// stops it as it stops one over deploy's own connection: current is
// untouched, the message says where the host is, no lock is left, and
// nothing logged in but the master.
func TestInterruptThroughControlMaster(t *testing.T) {
	f := newFixture(t)
	cm, err := os.MkdirTemp("", "cm") // a socket's path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cm) })
	writeFile(t, filepath.Join(f.home, ".ssh", "config"), fmt.Sprintf("Host %s\n\tPort %d\n\tControlMaster auto\n\tControlPath %s/%%C\n",
		f.sshd.Host(), f.sshd.Port(), cm))
	startSSHMaster(t, f.home, f.sshd.Host(), append(homeEnv(f.home), "SSH_AUTH_SOCK="))
	logins := func() int { return strings.Count(f.sshd.Logs(), "Accepted publickey") }
	// (ssh -f returns once it is in, maybe before sshd has logged it)
	for deadline := time.Now().Add(10 * time.Second); logins() != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("premise: the master's login; sshd log:\n%s", f.sshd.Logs())
		}
	}
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	before := f.current()
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	f.origin.commit()
	f.writeINI("pre-deploy " + gateHook(started, filepath.Join(dir, "never")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan cliResult, 1)
	go func() { done <- f.run(ctx, "production") }()
	waitFile(t, started)
	cancel()
	var r cliResult
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the interrupted deploy did not end")
	}
	if r.code == 0 || !strings.Contains(r.stderr, "interrupted; every lock is released and the hosts are:") ||
		!strings.Contains(r.stderr, "unchanged on "+before) {
		t.Errorf("interrupt: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if f.current() != before {
		t.Errorf("current moved to %s", f.current())
	}
	f.writeINI()
	f.mustRun("production") // no lock left behind
	if n := logins(); n != 1 {
		t.Errorf("sshd accepted %d logins, want the master's alone", n)
	}
}
