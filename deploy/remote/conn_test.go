package remote_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
)

// behindCutter returns a target going through a Cutter in front of s and a
// HOME trusting s's key at the cutter's address.
func behindCutter(t *testing.T, s *sshtest.Server) (*sshtest.Cutter, remote.Target, string) {
	t.Helper()
	cut := sshtest.NewCutter(t, s.Addr())
	home := sshtest.FakeHome(t, "", s)
	s.AppendKnownHost(t, filepath.Join(home, ".ssh", "known_hosts"), cut.Addr())
	return cut, remote.Target{Host: "127.0.0.1", Port: cut.Port(), User: s.User()}, home
}

func TestCutMidCommandFailsRunPromptly(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	cut, tg, home := behindCutter(t, s)
	c := dial(t, tg, remote.Options{HomeDir: home})

	done := runAsync(t, ctxT(t), c, "echo started; sleep 60")
	if n := cut.Cut(); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
	err := waitErr(t, done, 15*time.Second)
	var exit interface{ ExitStatus() int }
	if errors.As(err, &exit) {
		t.Errorf("a cut connection looks like an exit status: %v", err)
	}
	wantContains(t, "error", err.Error(), "connection", "died", tg.Host)
	if hint.Of(err) == "" {
		t.Error("no hint for a dead connection")
	}
	// The client stays unusable; a new Dial works.
	if err := c.Run(ctxT(t), "true", nil, nil, nil); err == nil {
		t.Error("Run on a dead connection succeeded")
	}
	c2 := dial(t, tg, remote.Options{HomeDir: home})
	if got := output(t, c2, "echo back"); got != "back\n" {
		t.Fatalf("output %q", got)
	}
}

func TestKeepAliveDetectsSilentPeer(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	cut, tg, home := behindCutter(t, s)
	interval := 200 * time.Millisecond
	c := dial(t, tg, remote.Options{HomeDir: home, KeepAliveInterval: interval})

	done := runAsync(t, ctxT(t), c, "echo started; sleep 60")
	cut.Freeze() // no FIN, no bytes: only keepalives can tell
	err := waitErr(t, done, 20*time.Second)
	wantContains(t, "error", err.Error(), "connection", "died", "keepalives")
}

func TestKeepAliveKeepsIdleConnection(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	// Rounds of 500 ms: a connection is dead after 4 of them unanswered,
	// 2 s, which sshd under -race on a loaded machine never needs (with
	// 50 ms rounds, 200 ms, a CI run once saw it taken for dead).
	c := dial(t, target(s), remote.Options{HomeDir: home, KeepAliveInterval: 500 * time.Millisecond})
	// Long enough for several keepalive rounds, each answered.
	if got := output(t, c, "sleep 3; echo alive"); got != "alive\n" {
		t.Fatalf("output %q", got)
	}
}

func TestCancelStopsRemoteCommand(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	c := dial(t, target(s), remote.Options{HomeDir: home, StopGrace: 2 * time.Second})
	pidFile := filepath.Join(t.TempDir(), "pid")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The test's own temp path, quoted for the test shell only. The loop
	// writes until it gets SIGTERM (non-root logins) or its output is cut
	// (root logins, where sshd refuses signals).
	cmd := fmt.Sprintf("echo $$ > %q; echo started; while :; do echo tick || exit 1; sleep 0.1; done", pidFile)
	done := runAsync(t, ctx, c, cmd)
	// runAsync returns on the first output, which may be the login
	// shell's own (an rc file's warning) before the pid is written
	var pid string
	for deadline := time.Now().Add(testTimeout); pid == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		if strings.HasSuffix(string(b), "\n") {
			pid = strings.TrimSpace(string(b))
		}
	}
	if pid == "" {
		t.Fatalf("no pid in %s within %s", pidFile, testTimeout)
	}
	start := time.Now()
	cancel()
	err := waitErr(t, done, 20*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	t.Logf("Run returned %s after cancel", time.Since(start))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join("/proc", pid)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote command (pid %s) still runs 15s after cancel", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The connection survives a cancelled command.
	if got := output(t, c, "echo still"); got != "still\n" {
		t.Fatalf("output %q", got)
	}
}

func TestConnectRefusedHasHint(t *testing.T) {
	isolate(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, err = remote.Dial(ctxT(t), remote.Target{Host: "127.0.0.1", Port: port, User: "nobody"}, remote.Options{HomeDir: t.TempDir()})
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	wantContains(t, "error", err.Error(), "connect to nobody@127.0.0.1:", "connection refused")
	wantContains(t, "hint", hint.Of(err), "is sshd running", "port")
}

func TestConnectTimeoutHasHint(t *testing.T) {
	isolate(t)
	// A listener that never answers the SSH banner.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	start := time.Now()
	_, err = remote.Dial(ctxT(t), remote.Target{Host: "127.0.0.1", Port: port, User: "nobody"},
		remote.Options{HomeDir: t.TempDir(), ConnectTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("Dial to a silent port succeeded")
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Dial took %s despite a 300ms timeout", el)
	}
	wantContains(t, "error", err.Error(), "ssh handshake timed out after 300ms")
	if hint.Of(err) == "" {
		t.Error("no hint for a timeout")
	}
	// the caller's deadline first: the error names it, not ConnectTimeout
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err = remote.Dial(ctx, remote.Target{Host: "127.0.0.1", Port: port, User: "nobody"},
		remote.Options{HomeDir: t.TempDir(), ConnectTimeout: time.Hour})
	if err == nil || !regexp.MustCompile(`timed out after \d+ms`).MatchString(err.Error()) {
		t.Errorf("a dial ended by the caller's 400ms deadline: %v", err)
	}
}

func TestDialCancelled(t *testing.T) {
	isolate(t)
	// A listener that never answers: the handshake waits until cancelled.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = remote.Dial(ctx, remote.Target{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "x"},
		remote.Options{HomeDir: t.TempDir()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
