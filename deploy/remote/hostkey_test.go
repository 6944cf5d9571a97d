package remote_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
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
	wantContains(t, "hint", remote.Hint(err), "--accept-new", "known_hosts")
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
	wantContains(t, "hint", remote.Hint(err), "ssh-keygen -R", "never replaces")
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
