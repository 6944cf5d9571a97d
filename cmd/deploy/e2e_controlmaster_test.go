package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
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

// waitLogins waits (bounded) until count says sshd logged n logins, and
// fails unless it does: ssh -f returns once it is in, maybe before sshd
// has written the line.
func waitLogins(t *testing.T, sshd *sshtest.Server, count func() int, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); count() != n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("premise: sshd logged %d logins, want %d; its log:\n%s", count(), n, sshd.Logs())
		}
	}
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
	waitLogins(t, f.sshd, logins, 1)
	interruptMidBuild(t, f)
	if n := logins(); n != 1 {
		t.Errorf("sshd accepted %d logins, want the master's alone", n)
	}
}
