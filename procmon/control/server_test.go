package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as a daemon holding a control socket.
const childEnv = "PROCMON_CONTROL_TEST_DAEMON"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		runChildDaemon(path)
		return
	}
	if path := os.Getenv(clientEnv); path != "" {
		os.Exit(runChildClient(path))
	}
	os.Exit(m.Run())
}

func runChildDaemon(path string) {
	srv, err := NewServer(path, "childapp", &fakeHandler{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	srv.Serve(context.Background()) // until killed
}

type fakeHandler struct {
	status   Status
	reload   func(ctx context.Context, wait bool) (ReloadResult, error)
	statusFn func(ctx context.Context) (Status, error)
}

func (f *fakeHandler) Reload(ctx context.Context, wait bool) (ReloadResult, error) {
	if f.reload == nil {
		return ReloadResult{Outcome: OutcomeQueued}, nil
	}
	return f.reload(ctx, wait)
}

func (f *fakeHandler) Status(ctx context.Context) (Status, error) {
	if f.statusFn != nil {
		return f.statusFn(ctx)
	}
	return f.status, nil
}

// socketPath returns a short socket path: unix socket paths are limited.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pmc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "app.sock")
}

func startServer(t *testing.T, h Handler) (*Server, *Client) {
	t.Helper()
	path := socketPath(t)
	srv, err := NewServer(path, "app", h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, NewClient(path)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestReloadVerdictsAndExitCodes(t *testing.T) {
	started := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		wait     bool
		timeout  time.Duration
		reload   func(ctx context.Context, wait bool) (ReloadResult, error)
		outcome  Outcome
		exit     int
		contains string
	}{
		{"served", true, time.Minute, func(ctx context.Context, wait bool) (ReloadResult, error) {
			if !wait {
				return ReloadResult{}, errors.New("wait not passed")
			}
			return ReloadResult{Outcome: OutcomeServed, Generation: 4, Serving: 4, Started: started, DurationMS: 2100}, nil
		}, OutcomeServed, ExitOK, "generation 4 ready in 2.1s"},
		{"queued", false, 0, func(ctx context.Context, wait bool) (ReloadResult, error) {
			if wait {
				return ReloadResult{}, errors.New("wait passed")
			}
			return ReloadResult{Outcome: OutcomeQueued}, nil
		}, OutcomeQueued, ExitOK, "queued"},
		{"abandoned", true, time.Minute, func(ctx context.Context, wait bool) (ReloadResult, error) {
			return ReloadResult{Outcome: OutcomeAbandoned, Generation: 5, Serving: 4, Reason: "worker w1 exited with status 1 before ready",
				LogTail: []string{"5/w1 Error: Cannot find module 'express'"}}, nil
		}, OutcomeAbandoned, ExitAbandoned, "Cannot find module"},
		{"abandoned while waiting", true, time.Minute, func(ctx context.Context, wait bool) (ReloadResult, error) {
			return ReloadResult{Outcome: OutcomeAbandoned, Reason: "dir /srv/app/current does not exist yet: deploy first"}, nil
		}, OutcomeAbandoned, ExitAbandoned, "reload abandoned: dir /srv/app/current does not exist yet: deploy first\n" +
			"nothing serves yet: procmon keeps waiting for the first deploy\n"},
		{"timeout", true, 200 * time.Millisecond, func(ctx context.Context, wait bool) (ReloadResult, error) {
			<-ctx.Done()
			return ReloadResult{Generation: 6}, ctx.Err()
		}, OutcomeTimeout, ExitTimeout, "no verdict within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := startServer(t, &fakeHandler{reload: tt.reload})
			r, err := c.Reload(testCtx(t), tt.wait, tt.timeout)
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != tt.outcome || ExitCode(r, err) != tt.exit {
				t.Fatalf("got %+v exit %d, want %s exit %d", r, ExitCode(r, err), tt.outcome, tt.exit)
			}
			var out strings.Builder
			RenderReload(&out, r)
			if !strings.Contains(out.String(), tt.contains) {
				t.Fatalf("rendered %q, want it to mention %q", out.String(), tt.contains)
			}
		})
	}
}

func TestReloadErrorsReachTheClient(t *testing.T) {
	_, c := startServer(t, &fakeHandler{reload: func(context.Context, bool) (ReloadResult, error) {
		return ReloadResult{}, errors.New("config /etc/procmon/app.toml: line 3: unknown key \"wokers\"")
	}})
	r, err := c.Reload(testCtx(t), true, time.Minute)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "wokers") {
		t.Fatalf("err = %v, want the daemon's error", err)
	}
	if ExitCode(r, err) != ExitError {
		t.Fatalf("exit %d, want %d", ExitCode(r, err), ExitError)
	}
}

func TestClientHangupEndsTheWait(t *testing.T) {
	ended := make(chan error, 1)
	entered := make(chan struct{})
	_, c := startServer(t, &fakeHandler{reload: func(ctx context.Context, wait bool) (ReloadResult, error) {
		close(entered)
		<-ctx.Done()
		ended <- ctx.Err()
		return ReloadResult{}, ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	if _, err := c.Reload(ctx, true, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler ctx ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler kept waiting after the client left")
	}
}

func TestNotRunning(t *testing.T) {
	path := socketPath(t)
	c := NewClient(path)
	_, err := c.Status(testCtx(t))
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "is procmon running? socket "+path) {
		t.Fatalf("err = %v", err)
	}
	r, err := c.Reload(testCtx(t), true, time.Second)
	if ExitCode(r, err) != ExitNotRunning {
		t.Fatalf("exit %d, want %d", ExitCode(r, err), ExitNotRunning)
	}
	var he HintError
	if !errors.As(err, &he) || he.Hint() == "" {
		t.Fatal("no hint for a daemon that is not running")
	}
}

func rawExchange(t *testing.T, path, request string) Response {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(conn, request)
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		t.Fatalf("decode answer to %q: %v", request, err)
	}
	return resp
}

func TestBadRequests(t *testing.T) {
	srv, _ := startServer(t, &fakeHandler{})
	tests := []struct{ req, want string }{
		{"not json\n", "read request"},
		{`{"op":"explode"}`, `unknown op "explode"`},
		{`{"op":"reload","wait":true,"timeout":"soon"}`, `timeout "soon"`},
		{`{"op":"reload","wait":true,"timeout":"-3s"}`, `timeout "-3s"`},
	}
	for _, tt := range tests {
		resp := rawExchange(t, srv.Path(), tt.req)
		if resp.OK || !strings.Contains(resp.Error, tt.want) || resp.Version != ProtocolVersion {
			t.Errorf("%s: got %+v, want error containing %q", tt.req, resp, tt.want)
		}
	}
}

func TestHandlerPanicIsAnError(t *testing.T) {
	srv, _ := startServer(t, &fakeHandler{statusFn: func(context.Context) (Status, error) { panic("boom") }})
	resp := rawExchange(t, srv.Path(), `{"op":"status"}`)
	if resp.OK || !strings.Contains(resp.Error, "boom") {
		t.Fatalf("got %+v", resp)
	}
	// The server survives and answers the next request.
	if resp := rawExchange(t, srv.Path(), `{"op":"reload"}`); !resp.OK {
		t.Fatalf("server broken after a panic: %+v", resp)
	}
}

func TestSocketIsPrivateAndRemovedOnClose(t *testing.T) {
	path := socketPath(t)
	srv, err := NewServer(path, "app", &fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	srv.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
	// The lock is released: a new daemon starts.
	srv2, err := NewServer(path, "app", &fakeHandler{})
	if err != nil {
		t.Fatalf("restart after Close: %v", err)
	}
	srv2.Close()
}

func TestSecondDaemonRefused(t *testing.T) {
	path := socketPath(t)
	srv, err := NewServer(path, "vmblog", &fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, err = NewServer(path, "vmblog", &fakeHandler{})
	var are *AlreadyRunningError
	if !errors.As(err, &are) || are.PID != os.Getpid() {
		t.Fatalf("second daemon: %v", err)
	}
	if want := fmt.Sprintf("procmon for vmblog already runs, pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
}

// startChild runs the test binary as a daemon on path and waits until it
// serves.
func startChild(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l != "ready" {
			t.Fatalf("child daemon: %q", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child daemon did not start")
	}
	return cmd
}

// TestCrashedDaemonLeavesRecoverableSocket kills a real daemon process with
// SIGKILL: while it lives a second daemon is refused with its pid; after the
// crash its socket file stays behind and a new daemon replaces it.
func TestCrashedDaemonLeavesRecoverableSocket(t *testing.T) {
	path := socketPath(t)
	child := startChild(t, path)
	_, err := NewServer(path, "childapp", &fakeHandler{})
	var are *AlreadyRunningError
	if !errors.As(err, &are) || are.PID != child.Process.Pid {
		t.Fatalf("while the first daemon runs: %v, want already running with pid %d", err, child.Process.Pid)
	}
	if _, err := NewClient(path).Status(testCtx(t)); err != nil {
		t.Fatalf("status from the child daemon: %v", err)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the crash did not leave a stale socket (%v); the test needs one", err)
	}
	if _, err := NewClient(path).Status(testCtx(t)); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale socket: %v, want not running", err)
	}
	_, c := startServerAt(t, path)
	if _, err := c.Status(testCtx(t)); err != nil {
		t.Fatalf("new daemon on the recovered socket: %v", err)
	}
}

func startServerAt(t *testing.T, path string) (*Server, *Client) {
	t.Helper()
	srv, err := NewServer(path, "childapp", &fakeHandler{status: Status{App: "childapp"}})
	if err != nil {
		t.Fatalf("recover stale socket: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv, NewClient(path)
}

func TestLiveSocketWithoutLockRefused(t *testing.T) {
	path := socketPath(t)
	os.MkdirAll(filepath.Dir(path), 0o700)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := NewServer(path, "app", &fakeHandler{}); err == nil || !strings.Contains(err.Error(), "another process accepts") {
		t.Fatalf("err = %v", err)
	}
	plain := filepath.Join(filepath.Dir(path), "plain.sock")
	os.WriteFile(plain, nil, 0o600)
	if _, err := NewServer(plain, "app", &fakeHandler{}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file in the way: %v", err)
	}
	long := "/tmp/" + strings.Repeat("x", 120) + ".sock"
	if _, err := NewServer(long, "app", &fakeHandler{}); err == nil || !strings.Contains(err.Error(), "shorter path") {
		t.Fatalf("long path: %v", err)
	}
	if _, err := os.Stat(long + ".lock"); !os.IsNotExist(err) {
		os.Remove(long + ".lock")
		t.Fatal("a lock file was created for a socket path that cannot work")
	}
}

// TestCloseEndsWaits closes the server while a client waits for a verdict:
// the wait ends with a clear error instead of hanging Close.
func TestCloseEndsWaits(t *testing.T) {
	entered := make(chan struct{})
	path := socketPath(t)
	srv, err := NewServer(path, "app", &fakeHandler{reload: func(ctx context.Context, wait bool) (ReloadResult, error) {
		close(entered)
		<-ctx.Done()
		return ReloadResult{}, ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background())
	answered := make(chan error, 1)
	go func() {
		_, err := NewClient(path).Reload(testCtx(t), true, time.Minute)
		answered <- err
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close hung on a waiting client")
	}
	select {
	case err := <-answered:
		if err == nil || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("client got %v, want a shutting-down error", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("client never answered")
	}
}
