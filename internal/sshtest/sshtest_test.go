package sshtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/deploytool/deploy/internal/testusers"
)

// dial logs in to addr with signer, checking the host key against file.
func dial(t *testing.T, addr, user, knownHostsFile string, signer ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	cb, err := knownhosts.New(knownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: cb,
		Timeout:         10 * time.Second,
	})
}

func output(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return string(out)
}

func TestServerRunsCommandsAndRotatesHostKey(t *testing.T) {
	s := Start(t, Options{Passphrase: "secret"})
	c, err := dial(t, s.Addr(), s.User(), s.KnownHostsFile(), s.ClientSigner())
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, s.Logs())
	}
	if got := output(t, c, "echo hello"); got != "hello\n" {
		t.Fatalf("output = %q", got)
	}
	c.Close()
	// The encrypted key is authorized too.
	if c, err := dial(t, s.Addr(), s.User(), s.KnownHostsFile(), s.EncryptedKey().Signer); err != nil {
		t.Fatalf("dial with encrypted key's signer: %v", err)
	} else {
		c.Close()
	}
	if _, err := ssh.ParsePrivateKey(mustRead(t, s.EncryptedKey().File)); err == nil {
		t.Fatal("encrypted key file parsed without a passphrase")
	}

	old := s.HostKey()
	s.RotateHostKey()
	if string(s.HostKey().Marshal()) == string(old.Marshal()) {
		t.Fatal("host key did not change")
	}
	_, err = dial(t, s.Addr(), s.User(), s.KnownHostsFile(), s.ClientSigner())
	if err == nil || !strings.Contains(err.Error(), "key mismatch") {
		t.Fatalf("dial after rotation: err = %v, want a key mismatch", err)
	}
}

func TestStopAndRestart(t *testing.T) {
	s := Start(t, Options{})
	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("stopped server still accepts connections")
	}
	s.Restart()
	c, err := dial(t, s.Addr(), s.User(), s.KnownHostsFile(), s.ClientSigner())
	if err != nil {
		t.Fatalf("dial after restart: %v", err)
	}
	c.Close()
}

func TestCutterCutsLiveConnections(t *testing.T) {
	s := Start(t, Options{})
	cut := NewCutter(t, s.Addr())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLineFor(cut.Addr())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, cut.Addr(), s.User(), kh, s.ClientSigner())
	if err != nil {
		t.Fatalf("dial through cutter: %v", err)
	}
	defer c.Close()
	if got := output(t, c, "echo through"); got != "through\n" {
		t.Fatalf("output = %q", got)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	if n := cut.Cut(); n != 1 {
		t.Fatalf("Cut severed %d connections, want 1", n)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("client did not notice the cut within 15s")
	}
	// New connections still work after a cut.
	c2, err := dial(t, cut.Addr(), s.User(), kh, s.ClientSigner())
	if err != nil {
		t.Fatalf("dial after cut: %v", err)
	}
	c2.Close()
	if got := cut.Accepted(); got != 2 {
		t.Fatalf("Accepted = %d, want 2", got)
	}
}

func TestFakeHome(t *testing.T) {
	s := Start(t, Options{})
	home := FakeHome(t, "Host x\n  HostName 127.0.0.1\n", s)
	for _, f := range []string{"config", "known_hosts", "id_ed25519", "id_ed25519.pub"} {
		if _, err := os.Stat(filepath.Join(home, ".ssh", f)); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := ssh.ParsePrivateKey(mustRead(t, filepath.Join(home, ".ssh", "id_ed25519")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, s.Addr(), s.User(), filepath.Join(home, ".ssh", "known_hosts"), signer)
	if err != nil {
		t.Fatalf("dial with fake home: %v", err)
	}
	c.Close()
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is a testing.TB that records Skip and Fatal instead of
// stopping the goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skip(args ...any)             { r.skipped, r.msg = true, fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed, r.msg = true, fmt.Sprintf(f, args...) }

func TestMissingSSHDSkipsUnlessRequired(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-sshd")
	for _, tt := range []struct {
		env                 string
		wantSkip, wantFatal bool
	}{{"", true, false}, {"0", true, false}, {"1", false, true}} {
		t.Setenv(RequireEnv, tt.env)
		r := &recorder{TB: t}
		if requireBinary(r, missing, "openssh-server") {
			t.Fatal("a missing binary was reported present")
		}
		if r.skipped != tt.wantSkip || r.failed != tt.wantFatal {
			t.Errorf("%s=%q: skipped %v failed %v, want %v %v", RequireEnv, tt.env, r.skipped, r.failed, tt.wantSkip, tt.wantFatal)
		}
		if !strings.Contains(r.msg, "apt-get install -y openssh-server") {
			t.Errorf("message %q lacks the install hint", r.msg)
		}
	}
}

// TestLoginAsAnotherUser: with Options.User a user made by testusers logs
// in with the same client key, and commands run as that user.
func TestLoginAsAnotherUser(t *testing.T) {
	u := testusers.AddUser(t)
	s := Start(t, Options{User: u.Name})
	if s.User() != u.Name {
		t.Fatalf("User() = %q, want %q", s.User(), u.Name)
	}
	c, err := dial(t, s.Addr(), s.User(), s.KnownHostsFile(), s.ClientSigner())
	if err != nil {
		t.Fatalf("dial as %s: %v\n%s", u.Name, err, s.Logs())
	}
	defer c.Close()
	if got := output(t, c, "id -un; echo $HOME"); got != u.Name+"\n"+u.Home+"\n" {
		t.Fatalf("as %s: id -un; echo $HOME = %q", u.Name, got)
	}
}
