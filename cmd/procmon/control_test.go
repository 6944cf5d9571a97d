package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/procmon/control"
	"github.com/deploytool/deploy/procmon/sdnotify"
)

// cmdApp is a config for `procmon run` over this test binary as worker.
type cmdApp struct {
	dir, cfg, addr, sock, log string
	appDir                    string // the config's dir; "" = dir
}

func newCmdApp(t *testing.T) *cmdApp {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &cmdApp{dir: dir, cfg: filepath.Join(dir, "shop.toml"), addr: l.Addr().String(),
		sock: filepath.Join(dir, "shop.sock"), log: filepath.Join(dir, "log", "shop.log")}
	l.Close()
	a.write(t, "", "20s")
	return a
}

// write (re)writes the config; extraEnv is added to the worker's env.
func (a *cmdApp) write(t *testing.T, extraEnv, readyTimeout string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	appDir := a.appDir
	if appDir == "" {
		appDir = a.dir
	}
	text := fmt.Sprintf(`dir = %q
command = [%q]
listen = %q
workers = 2
env = { PROCMON_CMD_WORKER = "1"%s }
stop_timeout = "5s"
socket = %q
[ready]
timeout = %q
[log]
file = %q
max_size = "1MB"
`, appDir, exe, a.addr, extraEnv, a.sock, readyTimeout, a.log)
	if err := os.WriteFile(a.cfg+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a.cfg+".tmp", a.cfg); err != nil {
		t.Fatal(err)
	}
}

// invoke runs one procmon command in-process and returns its exit status,
// stdout and stderr as main would produce them.
func invoke(ctx context.Context, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"procmon"}, args...), &stdout, &stderr)
	code := report(&stderr, err)
	return code, stdout.String(), stderr.String()
}

// TestControlCommandsAgainstRealDaemon runs `procmon run` and drives it
// with the other commands: status (table and JSON), reload --wait served
// (exit 0) and abandoned (exit 3, reason printed, old generation still
// serving), reload without --wait, logs -n and logs -f, and a second
// daemon for the same app refused.
func TestControlCommandsAgainstRealDaemon(t *testing.T) {
	a := newCmdApp(t)
	ctx := t.Context()
	daemonErr := &syncbuf.Buffer{}
	notify, err := sdnotify.Listen(filepath.Join(a.dir, "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	notified := recordNotify(notify)
	daemon := startProcmon(t, []string{"NOTIFY_SOCKET=" + notify.Path()}, io.Discard, daemonErr, "run", "-c", a.cfg)
	stopped := false
	defer func() {
		if !stopped {
			stopProcmon(t, daemon, syscall.SIGTERM, daemonErr)
		}
	}()
	st := waitReady(t, a, daemonErr)
	code, out, errOut := invoke(ctx, "status", "--json", "-c", a.cfg)
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("status --json: %d %v\n%s%s", code, err, out, errOut)
	}
	if st.App != "shop" || (st.State != "ready" && st.State != "degraded") || st.Generation != 1 || len(st.Workers) != 2 || st.Listen != a.addr ||
		st.Log == nil || st.Log.File != a.log || st.Log.MaxSizeBytes != 1<<20 || st.Workers[0].PID == 0 {
		t.Errorf("status --json: %s", out)
	}
	if code, out, _ := invoke(ctx, "status", "-c", a.cfg); code != 0 || !regexp.MustCompile(`procmon shop: (ready|degraded), generation 1`).MatchString(out) {
		t.Errorf("status: %d\n%s", code, out)
	}

	code, out, errOut = invoke(ctx, "reload", "--wait", "-c", a.cfg)
	if code != 0 || !strings.Contains(out, "reload served: generation 2") {
		t.Fatalf("reload --wait: exit %d\n%s%s", code, out, errOut)
	}
	waitBody(t, "http://"+a.addr+"/", "generation 2", daemonErr)

	a.write(t, `, PROCMON_CMD_NEVER_READY = "1"`, "2s")
	code, out, errOut = invoke(ctx, "reload", "--wait", "--timeout", "60s", "-c", a.cfg)
	if code != control.ExitAbandoned || !strings.Contains(errOut, "reload abandoned: generation 3 failed: worker") ||
		!strings.Contains(errOut, "not ready within ready.timeout") || !strings.Contains(errOut, "generation 2 keeps serving") ||
		!strings.Contains(errOut, "worker never ready, as asked") || !strings.Contains(errOut, "\nhint: ") {
		t.Fatalf("reload --wait of a never-ready generation: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	waitBody(t, "http://"+a.addr+"/", "generation 2", daemonErr)

	a.write(t, "", "20s")
	if code, out, _ := invoke(ctx, "reload", "-c", a.cfg); code != 0 || !strings.Contains(out, "queued") {
		t.Fatalf("reload: exit %d %s", code, out)
	}
	waitBody(t, "http://"+a.addr+"/", "generation 4", daemonErr)

	if code, out, errOut := invoke(ctx, "logs", "-n", "3", "-c", a.cfg); code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, " | ") {
		t.Errorf("logs -n 3: exit %d\n%s%s", code, out, errOut)
	}
	checkFollow(t, ctx, a)

	code, _, errOut = invoke(ctx, "run", "-c", a.cfg)
	if code != 1 || !strings.Contains(errOut, "already runs") {
		t.Errorf("second daemon: exit %d: %s", code, errOut)
	}
	stopProcmon(t, daemon, syscall.SIGTERM, daemonErr)
	stopped = true
	checkNotified(t, notified, "READY RELOADING READY RELOADING READY RELOADING READY RELOADING READY STOPPING")
}

// recordNotify reads what procmon sends to its NOTIFY_SOCKET, as systemd
// does; the func it returns gives the READY/RELOADING/STOPPING keys so far.
func recordNotify(l *sdnotify.Listener) func() []string {
	var mu sync.Mutex
	var seq []string
	go func() {
		for {
			m, err := l.Receive(context.Background())
			if err != nil {
				return
			}
			mu.Lock()
			for _, k := range m.Keys {
				if k == "READY" || k == "RELOADING" || k == "STOPPING" {
					seq = append(seq, k)
				}
			}
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seq...)
	}
}

// checkNotified compares the sd_notify sequence with want, waiting up to
// 5s for the last messages.
func checkNotified(t *testing.T, notified func() []string, want string) {
	t.Helper()
	got := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = strings.Join(notified(), " "); got == want {
			return
		}
	}
	t.Errorf("sd_notify sequence:\n got %s\nwant %s", got, want)
}

// waitReady polls `status --json` until the app is ready: "ready", or
// "degraded" when the shared test machine's CPU is busy (the metrics are
// real here).
func waitReady(t *testing.T, a *cmdApp, log fmt.Stringer) control.Status {
	t.Helper()
	var st control.Status
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		code, out, _ := invoke(t.Context(), "status", "--json", "-c", a.cfg)
		if code == 0 && json.Unmarshal([]byte(out), &st) == nil && (st.State == "ready" || st.State == "degraded") {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready: %+v\n%s", a.cfg, st, log)
	return st
}

// checkFollow runs `logs -f -n 0` while a reload writes new lines, then
// ends it as Ctrl-C would.
func checkFollow(t *testing.T, ctx context.Context, a *cmdApp) {
	out := &syncbuf.Buffer{}
	follow := startProcmon(t, nil, out, io.Discard, "logs", "-f", "-n", "0", "-c", a.cfg)
	time.Sleep(300 * time.Millisecond) // let it reach the end of the file before the new lines
	if code, _, errOut := invoke(ctx, "reload", "--wait", "-c", a.cfg); code != 0 {
		t.Fatalf("reload: %d %s", code, errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "gen=5 worker=2") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stopProcmon(t, follow, syscall.SIGINT, out)
	if got := out.String(); !strings.Contains(got, "gen=5 worker=2") || strings.Contains(got, "gen=1 ") {
		t.Errorf("logs -f -n 0 printed:\n%s", got)
	}
}

// startProcmon runs procmon (this test binary as main) in a process of
// its own, with env added to its environment.
func startProcmon(t *testing.T, env []string, stdout, stderr io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "PROCMON_CMD_MAIN=1"), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// stopProcmon sends sig (SIGTERM as systemd would, SIGINT as Ctrl-C) and
// expects exit status 0 within 30s.
func stopProcmon(t *testing.T, cmd *exec.Cmd, sig syscall.Signal, out fmt.Stringer) {
	t.Helper()
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("procmon %v after %v: %v\n%s", cmd.Args[1:], sig, err, out)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("procmon %v did not exit 30s after %v", cmd.Args[1:], sig)
	}
}

func TestReloadWhenNotRunning(t *testing.T) {
	a := newCmdApp(t)
	code, _, errOut := invoke(t.Context(), "reload", "--wait", "-c", a.cfg)
	if code != control.ExitNotRunning || !strings.Contains(errOut, "error: reload shop: is procmon running?") || !strings.Contains(errOut, "hint: start it") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if code, _, errOut := invoke(t.Context(), "status", "-c", a.cfg); code != control.ExitNotRunning || strings.Count(errOut, "error:") != 1 {
		t.Fatalf("status: exit %d:\n%s", code, errOut)
	}
}

func TestHelpEndsWithExamples(t *testing.T) {
	for _, cmd := range []string{"run", "reload", "status", "logs", "unit"} {
		code, out, errOut := invoke(t.Context(), cmd, "--help")
		i := strings.LastIndex(out, "\nEXAMPLES:\n   procmon ")
		if code != 0 || i < 0 || strings.Contains(out[i+1:], "OPTIONS:") {
			t.Errorf("%s --help does not end with examples: exit %d\n%s%s", cmd, code, out, errOut)
		}
	}
	_, out, _ := invoke(t.Context(), "reload", "--help")
	if !strings.Contains(out, "EXIT STATUS") || !strings.Contains(out, "3  the reload was abandoned") {
		t.Errorf("reload --help lacks the exit statuses:\n%s", out)
	}
}

func TestUnitCommand(t *testing.T) {
	a := newCmdApp(t)
	code, out, errOut := invoke(t.Context(), "unit", "-c", a.cfg)
	for _, want := range []string{"Type=notify", "ExecStart=/usr/local/bin/procmon run -c " + a.cfg, "procmon-shop.service", "sets no user, so the workers of\n# shop run as root"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("unit: exit %d, missing %q\n%s%s", code, want, out, errOut)
		}
	}
	code, _, errOut = invoke(t.Context(), "unit", "--user", "www-data", "-c", a.cfg)
	if code != 1 || !strings.Contains(errOut, "--user is gone") || !strings.Contains(errOut, `hint: set user = "www-data" in `) {
		t.Errorf("unit --user: exit %d\n%s", code, errOut)
	}
}

func TestLogsWithoutLogFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "web.toml")
	os.WriteFile(cfg, []byte("dir = \"/srv\"\ncommand = [\"x\"]\nlisten = \"127.0.0.1:8080\"\n"), 0o644)
	code, _, errOut := invoke(t.Context(), "logs", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "has no [log] file") || !strings.Contains(errOut, "hint: under systemd, journalctl -u procmon@web") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}
