package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// hintCommand is the command an error's hint says to run, as printed.
func hintCommand(t *testing.T, stderr string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^hint: .*?'(deploy [^']*)'`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no 'deploy …' command in the hint:\n%s", stderr)
	}
	return strings.Fields(m[1])
}

// Trusting a new server's host key is a step of its own. The refusal's
// hint said 'deploy <env> --accept-new', which, followed as printed,
// shipped a deploy to production; it now names 'deploy production trust',
// which shows and records the key and runs nothing on the server.
func TestTrustIsItsOwnStep(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	kh := filepath.Join(f.home, ".ssh", "known_hosts")
	if err := os.Remove(kh); err != nil {
		t.Fatal(err)
	}
	before, sessions := f.tree(), strings.Count(f.sshd.Logs(), "Starting session")
	fp := ssh.FingerprintSHA256(f.sshd.HostKey())

	r := f.run(ctxMinute(t), "production")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown host key") || !strings.Contains(r.stderr, fp) {
		t.Fatalf("deploy to an unknown host key: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "--accept-new") {
		t.Errorf("the refusal suggests --accept-new:\n%s", r.stderr)
	}
	cmd := hintCommand(t, r.stderr)
	if strings.Join(cmd, " ") != "deploy production trust" {
		t.Fatalf("hint command = %q, want the env filled in", cmd)
	}

	// Run the hint's command exactly as printed.
	r = f.mustRun(cmd[1:]...)
	if !strings.Contains(r.stdout, "ssh-ed25519 "+fp) || !strings.Contains(r.stdout, "new: recorded in "+kh) {
		t.Errorf("trust output does not show the recorded key %s:\n%s", fp, r.stdout)
	}
	if b, _ := os.ReadFile(kh); !strings.Contains(string(b), f.sshd.KnownHostsLine()) {
		t.Errorf("known_hosts = %q, want the server's key", b)
	}
	if after := f.tree(); after != before {
		t.Errorf("trust changed the server's path:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if n := strings.Count(f.sshd.Logs(), "Starting session"); n != sessions {
		t.Errorf("trust opened %d session(s) on the server, want none", n-sessions)
	}
	// Again: known, nothing recorded.
	if r := f.mustRun("production", "trust"); !strings.Contains(r.stdout, "already known") {
		t.Errorf("second trust:\n%s", r.stdout)
	}

	f.mustRun("production")
	if got := f.events(); len(got) != 1 || got[0] != "deploy" {
		t.Errorf(".deploys events = %v, want the one deploy", got)
	}

	// check --accept-new trusts a first-seen key too, and only checks.
	if err := os.Remove(kh); err != nil {
		t.Fatal(err)
	}
	r = f.run(ctxMinute(t), "production", "check", "--accept-new")
	if r.code != 0 || strings.Contains(r.stderr, "unknown host key") || !strings.Contains(r.stdout, "all checks passed") {
		t.Errorf("check --accept-new: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(kh); !strings.Contains(string(b), f.sshd.KnownHostsLine()) {
		t.Errorf("check --accept-new did not record the key: %q", b)
	}

	// A changed key: trust refuses it loudly and leaves known_hosts alone.
	known, _ := os.ReadFile(kh)
	f.sshd.RotateHostKey()
	r = f.run(ctxMinute(t), "production", "trust")
	if r.code != 1 || !strings.Contains(r.stderr, "CHANGED") || !strings.Contains(r.stderr, "ssh-keygen -R") ||
		!strings.Contains(r.stderr, "'deploy production trust'") {
		t.Errorf("trust of a changed key: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(kh); string(after) != string(known) {
		t.Errorf("known_hosts changed from %q to %q", known, after)
	}
}
