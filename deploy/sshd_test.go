package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testfs"
)

// This file runs the protocol over a real OpenSSH sshd on 127.0.0.1 with
// the OpenSSH client binary as the transport: the control channel, EOF on
// a dropped connection and the one-command-per-step design are checked
// through real SSH sessions, not only through the local bash. (The Go SSH
// transport lives in deploy/remote and has its own end-to-end tests.)

// sshCLIConn is a test Conn that runs each command with `ssh`.
type sshCLIConn struct {
	args []string // ssh options and destination
	// started, when set, is given each ssh client once it runs (a test
	// can SIGKILL it, as a crashed laptop would).
	started func(*exec.Cmd)
}

func (c *sshCLIConn) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	x := exec.CommandContext(ctx, "ssh", append(append([]string{}, c.args...), "--", cmd)...)
	x.Stdout, x.Stderr = stdout, stderr
	x.WaitDelay = 3 * time.Second
	if stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return err
		}
		x.Stdin = pr
		go func() { _, _ = io.Copy(pw, stdin); _ = pw.Close() }()
		defer pw.Close()
		defer pr.Close()
	}
	err := x.Start()
	if err == nil {
		if c.started != nil {
			c.started(x)
		}
		err = x.Wait()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return localExitError{ee}
	}
	return err
}

func (c *sshCLIConn) Interactive(ctx context.Context, cmd string) error {
	return errors.New("no terminal in tests")
}

func (c *sshCLIConn) Close() error { return nil }

// startSSHD starts a real sshd (internal/sshtest) and returns a Conn that
// talks to it through the OpenSSH client, as a user's own ssh would.
func startSSHD(t *testing.T) *sshCLIConn {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		if os.Getenv(sshtest.RequireEnv) != "" {
			t.Fatalf("ssh client required: %v", err)
		}
		t.Skip("no ssh client")
	}
	s := sshtest.Start(t, sshtest.Options{})
	return &sshCLIConn{args: []string{"-p", fmt.Sprint(s.Port()), "-i", s.ClientKeyFile(), "-F", "/dev/null",
		"-o", "UserKnownHostsFile=" + s.KnownHostsFile(), "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"-o", "ConnectTimeout=10", s.User() + "@" + s.Host()}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOverSSHD: setup, deploy, a failing build, a connection dropped
// mid-build (the ssh client killed), and a revert, all through sshd.
func TestOverSSHD(t *testing.T) {
	begin := time.Now()
	conn := startSSHD(t)
	t.Logf("sshd ready in %v", time.Since(begin))
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.env.Path = filepath.Join(t.TempDir(), "srv", "app")
	testfs.Thaw(t, filepath.Dir(filepath.Dir(s.env.Path)))
	if err := Setup(ctxFor(t), conn, s.env, s.opts()); err != nil {
		t.Fatalf("setup: %v\n%s", err, s.out)
	}
	first, err := Deploy(ctxFor(t), conn, s.env, s.opts())
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, s.out)
	}

	o.commit(nil)
	s.env.PreDeploy = "echo 'make: *** [build] Error 2' >&2; exit 2"
	_, err = Deploy(ctxFor(t), conn, s.env, s.opts())
	if err == nil || !strings.Contains(err.Error(), "pre-deploy") || !strings.Contains(err.Error(), "Error 2") {
		t.Fatalf("failing build over ssh: %v", err)
	}
	assertUntouchedVia(t, s, first)

	// Ctrl-C mid-build: the client closes the session; sshd gives the
	// script EOF and it cleans up.
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	s.env.PreDeploy = gateHook(started, filepath.Join(dir, "never"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { waitFile(t, started); cancel() }()
	begin = time.Now()
	_, err = Deploy(ctx, conn, s.env, s.opts())
	if err == nil {
		t.Fatal("interrupted deploy succeeded")
	}
	t.Logf("interrupted deploy returned after %v: %v", time.Since(begin), err)
	waitUnlocked(t, s)
	assertUntouchedVia(t, s, first)

	s.env.PreDeploy = ""
	second, err := Deploy(ctxFor(t), conn, s.env, s.opts())
	if err != nil {
		t.Fatalf("deploy after the drop: %v", err)
	}
	res, err := Revert(ctxFor(t), conn, s.env, 1, s.opts())
	if err != nil || res.NewRelease != first.NewRelease || res.OldRelease != second.NewRelease {
		t.Fatalf("revert over ssh: %+v, %v", res, err)
	}
}

// assertUntouchedVia is assertUntouched without the follow-up deploy.
func assertUntouchedVia(t *testing.T, s *server, first *Result) {
	t.Helper()
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s", s.current(), first.NewRelease)
	}
	if got := s.releases(); len(got) != 1 {
		t.Errorf("releases = %v, want only %s", got, first.NewRelease)
	}
	if log := s.log(); log[len(log)-1].Event != EventFailed {
		t.Errorf("last entry %+v, want failed", log[len(log)-1])
	}
}

// waitUnlocked waits (bounded) for the server to finish its cleanup.
func waitUnlocked(t *testing.T, s *server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.lockLine() != "" || len(s.releases()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("server did not clean up within 20s: lock %q, releases %v", s.lockLine(), s.releases())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
