package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/deploytool/deploy/internal/sshtest"
)

// forward-agent yes through the CLI. With an agent, a deploy's hook sees
// the forwarded key and check (two sessions on one connection) passes:
// forwarding was requested on every session and OpenSSH refused the
// second request. With no agent, commands work as with `ssh -A`, and the
// warning is printed once per command, not once per host.
func TestForwardAgentThroughCLI(t *testing.T) {
	f := newFixture(t)
	t.Setenv("SSH_AUTH_SOCK", sshtest.ServeAgent(t, f.sshd.ClientKey().Private))
	keys := filepath.Join(t.TempDir(), "agent-keys")
	f.writeINI("forward-agent yes", "pre-deploy ssh-add -l > "+keys)
	f.mustRun("production", "setup")
	f.mustRun("production")
	b, err := os.ReadFile(keys)
	if fp := ssh.FingerprintSHA256(f.sshd.ClientKey().Public()); err != nil || !strings.Contains(string(b), fp) {
		t.Errorf("the hook's ssh-add -l = %q (%v), want the forwarded key %s", b, err, fp)
	}
	f.mustRun("production", "check")

	t.Setenv("SSH_AUTH_SOCK", "")
	second := f.twoHosts(t)
	f.writeHosts([]string{f.sshd.Addr(), second.Addr()}, "forward-agent yes")
	r := f.mustRun("production", "check")
	const warning = "note: forward-agent is set but no ssh-agent is reachable; continuing without forwarding\n"
	if n := strings.Count(r.stderr, warning); n != 1 {
		t.Errorf("the warning is printed %d times, want once:\n%s", n, r.stderr)
	}
}
