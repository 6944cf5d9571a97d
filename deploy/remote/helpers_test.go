package remote_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

// The client is what deploy runs its steps over.
var _ deploy.Conn = (*remote.Client)(nil)

// testTimeout bounds every remote operation in these tests.
const testTimeout = 30 * time.Second

// isolate keeps the developer's own agent out of the test.
func isolate(t *testing.T) {
	t.Helper()
	t.Setenv("SSH_AUTH_SOCK", "")
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// target names s directly.
func target(s *sshtest.Server) remote.Target {
	return remote.Target{Host: s.Host(), Port: s.Port(), User: s.User()}
}

func dial(t *testing.T, tg remote.Target, o remote.Options) *remote.Client {
	t.Helper()
	c, err := remote.Dial(ctxT(t), tg, o)
	if err != nil {
		t.Fatalf("Dial(%+v): %v\nhint: %s", tg, err, hint.Of(err))
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// output runs cmd and returns its stdout, failing on any error.
func output(t *testing.T, c *remote.Client, cmd string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := c.Run(ctxT(t), cmd, nil, &out, &errb); err != nil {
		t.Fatalf("Run(%q): %v\nstderr: %s", cmd, err, errb.String())
	}
	return out.String()
}

// removeFiles deletes names under home/.ssh.
func removeFiles(t *testing.T, home string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Remove(filepath.Join(home, ".ssh", n)); err != nil {
			t.Fatal(err)
		}
	}
}

// serveAgent runs an in-process ssh-agent holding keys on a unix socket
// in t.TempDir() and returns the socket path.
func serveAgent(t *testing.T, keys ...any) string {
	t.Helper()
	return sshtest.ServeAgent(t, keys...)
}

// startedWriter signals on its first write: the remote command is running.
type startedWriter struct {
	once    sync.Once
	started chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newStartedWriter() *startedWriter { return &startedWriter{started: make(chan struct{})} }

func (w *startedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.started) })
	return w.buf.Write(p)
}

// runAsync starts Run in the background and waits until cmd printed
// something.
func runAsync(t *testing.T, ctx context.Context, c *remote.Client, cmd string) <-chan error {
	t.Helper()
	w := newStartedWriter()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, cmd, nil, w, w) }()
	select {
	case <-w.started:
	case err := <-done:
		t.Fatalf("Run(%q) ended early: %v", cmd, err)
	case <-time.After(testTimeout):
		t.Fatalf("Run(%q) printed nothing within %s", cmd, testTimeout)
	}
	return done
}

// waitErr waits (bounded) for a Run started by runAsync to fail.
func waitErr(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run succeeded, want an error")
		}
		return err
	case <-time.After(within):
		t.Fatalf("Run did not return within %s", within)
	}
	return nil
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s = %q, want it to contain %q", what, s, sub)
		}
	}
}

func asError[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T) is not a %T", err, err, target)
	}
	return target
}

// fingerprint is the SHA256 fingerprint of s's client key.
func fingerprint(s *sshtest.Server) string {
	return ssh.FingerprintSHA256(s.ClientKey().Public())
}

// requireSSH skips a test without the OpenSSH client, or fails it under
// DEPLOY_REQUIRE_SSHD=1 (CI installs both).
func requireSSH(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err == nil {
		return
	}
	if os.Getenv(sshtest.RequireEnv) == "1" {
		t.Fatal("ssh (openssh-client) not found")
	}
	t.Skip("ssh (openssh-client) not found")
}

func writeFileT(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// withoutGlobal drops the global known_hosts files (older code listed
// them with the user's).
func withoutGlobal(files []string) []string {
	var out []string
	for _, f := range files {
		if !strings.HasPrefix(f, "/etc/ssh/") {
			out = append(out, f)
		}
	}
	return out
}

// forEachResolver runs f as a subtest for `ssh -G` (skipped without the
// ssh binary) and for the built-in reader.
func forEachResolver(t *testing.T, name string, f func(t *testing.T, res remote.Resolver)) {
	t.Helper()
	for _, res := range []remote.Resolver{remote.ResolveSSH, remote.ResolveBuiltin} {
		t.Run(name+"/"+res.String(), func(t *testing.T) {
			if res == remote.ResolveSSH {
				requireSSH(t)
			}
			f(t, res)
		})
	}
}
