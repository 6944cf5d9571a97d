package remote_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

func TestUnknownHostKeyRefusedWithFingerprint(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "known_hosts")

	_, err := remote.Dial(ctxT(t), target(s), remote.Options{HomeDir: home})
	if err == nil {
		t.Fatal("Dial accepted an unknown host key")
	}
	he := asError[*remote.HostKeyError](t, err)
	fp := ssh.FingerprintSHA256(s.HostKey())
	if he.Problem != remote.HostKeyUnknown || he.Fingerprint != fp || he.KeyType != ssh.KeyAlgoED25519 {
		t.Errorf("HostKeyError = %+v, want unknown %s", he, fp)
	}
	wantContains(t, "error", err.Error(), "unknown host key", fp, "ssh-ed25519", s.Addr())
	// The hint names the step that records the key and runs nothing, not
	// a command with --accept-new (a deploy, followed as printed).
	wantContains(t, "hint", hint.Of(err), "'deploy <env> trust'", "known_hosts")
	if strings.Contains(hint.Of(err), "--accept-new") {
		t.Errorf("hint %q suggests --accept-new", hint.Of(err))
	}
	if _, err := os.Stat(filepath.Join(home, ".ssh", "known_hosts")); !os.IsNotExist(err) {
		t.Errorf("a refused key was written to known_hosts (stat: %v)", err)
	}
}

func TestAcceptNewRecordsKey(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := t.TempDir() // no .ssh at all: it must be created
	tg := target(s)
	tg.KeyFile = s.ClientKeyFile()
	var notices []string
	logf := func(f string, a ...any) { notices = append(notices, f) }

	c := dial(t, tg, remote.Options{HomeDir: home, AcceptNew: true, Logf: logf})
	if got := output(t, c, "echo ok"); got != "ok\n" {
		t.Fatalf("output %q", got)
	}
	c.Close()
	if len(notices) != 1 {
		t.Errorf("notices = %q, want one saying the key was added", notices)
	}
	kh := filepath.Join(home, ".ssh", "known_hosts")
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	if want := s.KnownHostsLine(); !strings.Contains(string(b), want) {
		t.Errorf("known_hosts = %q, want a line %q", b, want)
	}
	for path, mode := range map[string]os.FileMode{kh: 0o600, filepath.Dir(kh): 0o700 | os.ModeDir} {
		if st, err := os.Stat(path); err != nil || st.Mode() != mode {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode(), err, mode)
		}
	}
	// Second dial, no AcceptNew: the recorded key is trusted.
	c2 := dial(t, tg, remote.Options{HomeDir: home})
	if got := output(t, c2, "echo again"); got != "again\n" {
		t.Fatalf("output %q", got)
	}
}

func TestChangedHostKeyRefusedEvenWithAcceptNew(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	kh := filepath.Join(home, ".ssh", "known_hosts")
	before, _ := os.ReadFile(kh)
	s.RotateHostKey()

	_, err := remote.Dial(ctxT(t), target(s), remote.Options{HomeDir: home, AcceptNew: true})
	if err == nil {
		t.Fatal("Dial accepted a changed host key")
	}
	he := asError[*remote.HostKeyError](t, err)
	if he.Problem != remote.HostKeyChanged || he.File != kh || he.Line != 1 {
		t.Errorf("HostKeyError = %+v, want changed at %s:1", he, kh)
	}
	wantContains(t, "error", err.Error(), "CHANGED", kh+":1", ssh.FingerprintSHA256(s.HostKey()), "man-in-the-middle")
	wantContains(t, "hint", hint.Of(err), "ssh-keygen -R", "'deploy <env> trust'", "ever replaces a known key")
	after, _ := os.ReadFile(kh)
	if string(before) != string(after) {
		t.Errorf("known_hosts changed from %q to %q", before, after)
	}
}

// The server offers RSA and ed25519 host keys; known_hosts has only the
// ed25519 one. x/crypto's default order would pick RSA and then refuse it
// as changed; preferring the known type makes the server show ed25519.
func TestHostKeyAlgorithmsPreferKnownType(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{RSAHostKey: true})
	home := sshtest.FakeHome(t, "", s) // known_hosts: ed25519 only
	c := dial(t, target(s), remote.Options{HomeDir: home})
	if got := output(t, c, "echo ok"); got != "ok\n" {
		t.Fatalf("output %q", got)
	}
	// And the reverse: only the RSA key known.
	kh := filepath.Join(home, ".ssh", "known_hosts")
	rsaLine := strings.Fields(s.KnownHostsLine())[0] + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.RSAHostKey())))
	if err := os.WriteFile(kh, []byte(rsaLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, target(s), remote.Options{HomeDir: home})
	if got := output(t, c2, "echo rsa"); got != "rsa\n" {
		t.Fatalf("output %q", got)
	}
}

// Trust records a first-seen host key and returns it as ssh-keygen names
// it, reports a known key as known, logs in but opens no session, and
// refuses a changed key without touching known_hosts.
func TestTrust(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "known_hosts")
	kh := filepath.Join(home, ".ssh", "known_hosts")
	var notices []string
	var st remote.Stats
	o := remote.Options{HomeDir: home, Stats: &st, Logf: func(f string, a ...any) { notices = append(notices, fmt.Sprintf(f, a...)) }}

	keys, err := remote.Trust(ctxT(t), target(s), o)
	if err != nil {
		t.Fatalf("Trust: %v\nhint: %s", err, hint.Of(err))
	}
	want := remote.HostKey{Host: fmt.Sprintf("[%s]:%d", s.Host(), s.Port()), Type: ssh.KeyAlgoED25519,
		Fingerprint: ssh.FingerprintSHA256(s.HostKey()), Added: true, File: kh}
	if len(keys) != 1 || keys[0] != want {
		t.Errorf("keys = %+v, want [%+v]", keys, want)
	}
	if b, _ := os.ReadFile(kh); string(b) != s.KnownHostsLine()+"\n" {
		t.Errorf("known_hosts = %q, want the server's line", b)
	}
	if len(notices) != 0 {
		t.Errorf("notices = %q, want none: the caller shows the keys", notices)
	}
	if st.Connections.Load() != 1 || st.Sessions.Load() != 0 {
		t.Errorf("%d connection(s), %d session(s); want 1 and none", st.Connections.Load(), st.Sessions.Load())
	}
	logs := s.Logs()
	if !strings.Contains(logs, "Accepted publickey") || strings.Contains(logs, "Starting session") {
		t.Errorf("sshd log: want a login and no session:\n%s", logs)
	}

	// Known now: reported as such, nothing written.
	keys, err = remote.Trust(ctxT(t), target(s), o)
	want.Added, want.File = false, ""
	if err != nil || len(keys) != 1 || keys[0] != want {
		t.Errorf("second Trust = %+v, %v; want [%+v]", keys, err, want)
	}
	before, _ := os.ReadFile(kh)
	if string(before) != s.KnownHostsLine()+"\n" {
		t.Errorf("known_hosts after a second Trust = %q", before)
	}

	// Changed: refused, known_hosts untouched.
	s.RotateHostKey()
	keys, err = remote.Trust(ctxT(t), target(s), o)
	he := asError[*remote.HostKeyError](t, err)
	if he.Problem != remote.HostKeyChanged || len(keys) != 0 {
		t.Errorf("Trust of a changed key = %+v, %v; want a changed-key refusal", keys, he)
	}
	if after, _ := os.ReadFile(kh); string(after) != string(before) {
		t.Errorf("known_hosts changed from %q to %q", before, after)
	}
}
