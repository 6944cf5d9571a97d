// Package examples holds the tests of the sample apps (node-hello, go-hello,
// python-hello), their hooks, and the top-level install.sh. The apps are
// not Go packages of this module: go-hello is its own module, so the tests
// build it and run every app as a real process on 127.0.0.1.
package examples

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
	"github.com/deploytool/deploy/internal/syncbuf"
)

// Bounds for every wait: generous, because the machine is shared.
const (
	readyWait = 20 * time.Second
	exitWait  = 20 * time.Second
	slowMS    = 1500
)

// appCase is one way of running one sample app.
type appCase struct {
	name    string
	need    string                          // binary that must be on PATH, or ""
	argv    func(t *testing.T) []string     // the command; built lazily
	socket  bool                            // pass a listener as fd 3
	notify  bool                            // expect READY=1 on NOTIFY_SOCKET
	verFile string                          // VERSION, REVISION, or "" for $APP_VERSION
	verText string                          // its content, also what / reports
	extra   func(t *testing.T, base string) // more checks while it serves
}

func TestApps(t *testing.T) {
	goBin := buildGoHello(t)
	goHello := func(*testing.T) []string { return []string{goBin} }
	node := func(*testing.T) []string { return []string{"node", abs(t, "node-hello/server.js")} }
	python := func(*testing.T) []string { return []string{"python3", abs(t, "python-hello/app.py")} }
	sha := "3f9c2ab0d6c1e0f4b5a7a8e2c1d0f9e8a7b6c5d4"

	cases := []appCase{
		{name: "go-hello/port", argv: goHello, notify: true, verFile: "VERSION", verText: "v1.2.3", extra: badRequest},
		{name: "go-hello/socket", argv: goHello, socket: true, notify: true, verFile: "REVISION", verText: sha},
		{name: "go-hello/env", argv: goHello, verText: "from-env"},
		{name: "node-hello/port", need: "node", argv: node, verFile: "VERSION", verText: "v2.0.0", extra: badRequest},
		{name: "node-hello/socket", need: "node", argv: node, socket: true, verFile: "REVISION", verText: sha},
		{name: "node-hello/env", need: "node", argv: node, verText: "from-env"},
		{name: "python-hello/port", need: "python3", argv: python, notify: true, verFile: "REVISION", verText: sha, extra: badRequest},
		{name: "python-hello/env", need: "python3", argv: python, verText: "from-env"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.need != "" {
				if _, err := exec.LookPath(tc.need); err != nil {
					if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" { // make test: every tool is required
						t.Fatalf("%s is not on PATH: scripts/deps.sh installs it", tc.need)
					}
					t.Skipf("%s is not on PATH: install it to test %s", tc.need, tc.name)
				}
			}
			exercise(t, tc)
		})
	}
}

// exercise starts the app, checks its endpoints, then sends SIGTERM with a
// request in flight and checks that request completes and the app exits 0.
func exercise(t *testing.T, tc appCase) {
	a := startApp(t, tc)
	base := "http://" + a.addr
	if tc.notify {
		expectReady(t, a.notify, a)
	}
	waitHealthy(t, base, a)
	expectBody(t, base+"/", "hello from "+tc.verText+"\n")
	expectBody(t, base+"/health", "ok\n")
	expectStatus(t, base+"/no-such-page", http.StatusNotFound)
	if tc.extra != nil {
		tc.extra(t, base)
	}
	drainOnSIGTERM(t, a)
}

// app is a started sample app.
type app struct {
	cmd    *exec.Cmd
	addr   string        // where it serves, on 127.0.0.1
	notify *net.UnixConn // its NOTIFY_SOCKET, when the case has one
	done   chan struct{} // closed once err holds what Wait returned
	err    error
}

// startApp starts the case's app in a temp dir holding its version file,
// on a free port or on a listener passed as fd 3.
func startApp(t *testing.T, tc appCase) *app {
	argv := tc.argv(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = t.TempDir()
	if tc.verFile == "" {
		cmd.Env = cleanEnv("APP_VERSION=" + tc.verText)
	} else { // a file wins over the variable
		write(t, filepath.Join(cmd.Dir, tc.verFile), tc.verText+"\n")
		cmd.Env = cleanEnv("APP_VERSION=should-not-win")
	}
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	a := &app{cmd: cmd, done: make(chan struct{})}
	var ln net.Listener
	if tc.socket {
		ln = passListener(t, cmd)
		a.addr = ln.Addr().String()
	} else {
		a.addr = freeport.Addr(t)
		_, port, _ := net.SplitHostPort(a.addr)
		cmd.Env = append(cmd.Env, "PORT="+port)
	}
	if tc.notify {
		a.notify = notifySocket(t)
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+a.notify.LocalAddr().String())
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	go func() { a.err = cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("%s output:\n%s", tc.name, out.String())
		}
	})
	// The child has its copy now; ours must go, or the socket would keep
	// accepting into its backlog after the app stopped.
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	if ln != nil {
		ln.Close()
	}
	return a
}

// passListener makes cmd receive a fresh 127.0.0.1 listener as fd 3 the
// way procmon passes one: LISTEN_FDS=1, and LISTEN_PID set to the app's own
// pid by a shell shim that execs the app (exec keeps the pid).
func passListener(t *testing.T, cmd *exec.Cmd) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Args = append([]string{"/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`}, cmd.Args...)
	cmd.Path = "/bin/sh"
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	return ln
}

// drainOnSIGTERM starts /slow, sends SIGTERM once its headers arrived, and
// checks the body still completes and the process then exits 0. A second
// connection, opened before the SIGTERM, sends its request after it: that
// request is answered or its connection closed cleanly, never a crash
// (node-hello used to die of ERR_HTTP_HEADERS_SENT there, cutting the
// requests in flight).
func drainOnSIGTERM(t *testing.T, a *app) {
	late, err := net.DialTimeout("tcp", a.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	conn, err := net.DialTimeout("tcp", a.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(readyWait))
	fmt.Fprintf(conn, "GET /slow?ms=%d HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", slowMS)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET /slow: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /slow: status %d, want 200", resp.StatusCode)
	}
	// The headers are here, the body is not: the request is in flight.
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the app handle it
	late.SetDeadline(time.Now().Add(readyWait))
	fmt.Fprintf(late, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("in-flight /slow cut short by SIGTERM: %v (got %q)", err, body)
	}
	if want := fmt.Sprintf("slow done after %dms\n", slowMS); string(body) != want {
		t.Fatalf("in-flight /slow body = %q, want %q", body, want)
	}
	// The late request: answered, or its connection closed before any
	// byte of an answer.
	if next, err := http.ReadResponse(bufio.NewReader(late), nil); err == nil {
		b, rerr := io.ReadAll(next.Body)
		next.Body.Close()
		if next.StatusCode != http.StatusOK || rerr != nil {
			t.Fatalf("request sent after SIGTERM: status %d, body %q, %v", next.StatusCode, b, rerr)
		}
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("request sent after SIGTERM: %v", err)
	}
	select {
	case <-a.done:
		if a.err != nil {
			t.Fatalf("exit after SIGTERM: %v, want exit 0", a.err)
		}
	case <-time.After(exitWait):
		t.Fatalf("still running %s after SIGTERM", exitWait)
	}
	if c, err := net.DialTimeout("tcp", a.addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the app exited", a.addr)
	}
}

// badRequest checks /slow refuses a malformed duration with a hint.
func badRequest(t *testing.T, base string) {
	expectStatus(t, base+"/slow?ms=soon", http.StatusBadRequest)
}

func buildGoHello(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "go-hello")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = abs(t, "go-hello")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build go-hello: %v\n%s", err, out)
	}
	return bin
}

// notifySocket listens where an app's READY=1 goes.
func notifySocket(t *testing.T) *net.UnixConn {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func expectReady(t *testing.T, conn *net.UnixConn, a *app) {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(readyWait)
	var n int
	for {
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var err error
		if n, err = conn.Read(buf); err == nil {
			break
		}
		select {
		case <-a.done:
			t.Fatalf("app exited before READY=1: %v", a.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no READY=1 on NOTIFY_SOCKET within %s: %v", readyWait, err)
		}
	}
	if got := string(buf[:n]); !strings.Contains("\n"+got+"\n", "\nREADY=1\n") {
		t.Fatalf("notify message %q, want READY=1", got)
	}
}

func waitHealthy(t *testing.T, base string, a *app) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyWait)
	for {
		resp, err := client.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-a.done:
			t.Fatalf("app exited before serving: %v", a.err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/health not 200 within %s (last error: %v)", base, readyWait, err)
		}
	}
}

func expectBody(t *testing.T, url, want string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("GET %s = %d %q (%v), want 200 %q", url, resp.StatusCode, body, err, want)
	}
}

func expectStatus(t *testing.T, url string, want int) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s = %d, want %d", url, resp.StatusCode, want)
	}
}

// cleanEnv is this process's environment without what would steer the
// apps (sockets, ports, versions, hook variables), plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "LISTEN_"), strings.HasPrefix(k, "DEPLOY_"),
			k == "NOTIFY_SOCKET", k == "PORT", k == "HOST", k == "APP_VERSION":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func abs(t *testing.T, rel string) string {
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNpmCIIfChanged runs node-hello's pre-deploy hook in a fake server
// layout, with a stand-in npm that records its calls.
func TestNpmCIIfChanged(t *testing.T) {
	const lock = `{"lockfileVersion": 3, "packages": {"": {"name": "x"}}}` + "\n"
	cases := []struct {
		name     string
		prevLock string // "" = the previous release has no lock
		prevMods bool   // the previous release has node_modules
		newLock  string // "" = the new release has no lock
		previous func(path string) string
		wantNpm  bool
		wantLink bool   // node_modules reused from the previous release
		wantErr  string // non-empty: the hook fails saying this
	}{
		{name: "first deploy", newLock: lock, previous: func(string) string { return "" }, wantNpm: true},
		{name: "unchanged by id", prevLock: lock, prevMods: true, newLock: lock, previous: byID, wantLink: true},
		{name: "unchanged by path", prevLock: lock, prevMods: true, newLock: lock, previous: byPath, wantLink: true},
		{name: "changed", prevLock: lock, prevMods: true, newLock: strings.Replace(lock, `"x"`, `"y"`, 1), previous: byID, wantNpm: true},
		{name: "previous never installed", prevLock: lock, newLock: lock, previous: byID, wantNpm: true},
		{name: "previous had no lock", prevMods: true, newLock: lock, previous: byID, wantNpm: true},
		{name: "no lock", previous: byID, wantErr: "no package-lock.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir()
			prev := filepath.Join(path, "releases", "20261124T060000Z-aaaaaaa")
			release := filepath.Join(path, "releases", "20261124T061502Z-bbbbbbb")
			write(t, filepath.Join(prev, "server.js"), "")
			write(t, filepath.Join(release, "server.js"), "")
			if tc.prevLock != "" {
				write(t, filepath.Join(prev, "package-lock.json"), tc.prevLock)
			}
			if tc.prevMods {
				write(t, filepath.Join(prev, "node_modules", "left-pad", "index.js"), "module.exports = 1\n")
			}
			if tc.newLock != "" {
				write(t, filepath.Join(release, "package-lock.json"), tc.newLock)
			}
			out, npm, err := runNpmHook(t, path, release, tc.previous(prev))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(string(out), tc.wantErr) {
					t.Fatalf("hook: %v\n%s\nwant a failure saying %q", err, out, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("hook: %v\n%s", err, out)
			}
			if (npm != "") != tc.wantNpm || (tc.wantNpm && !strings.HasPrefix(npm, "ci")) {
				t.Fatalf("npm calls %q, want npm ci: %v\n%s", npm, tc.wantNpm, out)
			}
			_, statErr := os.Stat(filepath.Join(release, "node_modules", "left-pad", "index.js"))
			if linked := statErr == nil; linked != tc.wantLink {
				t.Fatalf("node_modules reused = %v, want %v\n%s", linked, tc.wantLink, out)
			}
		})
	}
}

// runNpmHook runs the hook as deploy would, in release, with a stand-in
// npm first on PATH; npm is what that npm was asked to do.
func runNpmHook(t *testing.T, path, release, previous string) (out, npm string, err error) {
	fakeBin := t.TempDir()
	npmLog := filepath.Join(fakeBin, "npm.log")
	write(t, filepath.Join(fakeBin, "npm"), "#!/bin/sh\necho \"$@\" >> \"$NPM_LOG\"\n")
	if err := os.Chmod(filepath.Join(fakeBin, "npm"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", abs(t, "node-hello/hooks/npm-ci-if-changed"))
	cmd.Dir = release
	cmd.Env = append(cleanEnv(), "PATH="+fakeBin+":/usr/bin:/bin", "NPM_LOG="+npmLog,
		"DEPLOY_PATH="+path, "DEPLOY_RELEASE="+release, "DEPLOY_PREVIOUS="+previous)
	b, err := cmd.CombinedOutput()
	calls, _ := os.ReadFile(npmLog)
	return string(b), strings.TrimSpace(string(calls)), err
}

// DEPLOY_PREVIOUS is the previous release's directory; a bare release id
// is accepted too.
func byID(prev string) string   { return filepath.Base(prev) }
func byPath(prev string) string { return prev }

func TestInstallArgs(t *testing.T) {
	cases := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"--help"}, 0, "Usage: ./install.sh [--prefix DIR] [--server]"},
		{[]string{"-h"}, 0, "Examples:"},
		{[]string{"--bogus"}, 2, "unknown option: --bogus"},
		{[]string{"--prefix"}, 2, "--prefix needs a directory"},
		{[]string{"--prefix="}, 2, "--prefix needs a directory"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, code := runInstall(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(out, tc.want) {
				t.Fatalf("install.sh %v: exit %d, want %d and %q in:\n%s", tc.args, code, tc.wantCode, tc.want, out)
			}
		})
	}
}

// TestInstallPrefix installs into a temporary prefix, twice, and runs what
// it installed. It needs the deploy and procmon commands in the checkout.
func TestInstallPrefix(t *testing.T) {
	for _, cmd := range []string{"deploy", "procmon"} {
		if files, _ := filepath.Glob(filepath.Join("..", "cmd", cmd, "*.go")); len(files) == 0 {
			t.Skipf("./cmd/%s has no Go files in this checkout yet (it comes with the deploy and procmon branches); nothing to install", cmd)
		}
	}
	prefix := t.TempDir()
	args := []string{"--prefix", prefix}
	unit := filepath.Join("systemd", "procmon@.service")
	_, err := os.Stat(unit)
	server := err == nil
	if server {
		args = append(args, "--server")
	}
	out, code := runInstall(t, args...)
	if code != 0 {
		t.Fatalf("install.sh %v: exit %d:\n%s", args, code, out)
	}
	for _, cmd := range []string{"deploy", "procmon"} {
		bin := filepath.Join(prefix, "bin", cmd)
		if !strings.Contains(out, "installed "+bin) {
			t.Errorf("install.sh did not say it installed %s:\n%s", bin, out)
		}
		v, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || len(bytes.TrimSpace(v)) == 0 {
			t.Errorf("%s --version: %v, output %q; want exit 0 and a version", bin, err, v)
		}
	}
	if server {
		want, _ := os.ReadFile(unit)
		got, err := os.ReadFile(filepath.Join(prefix, "etc", "systemd", "system", "procmon@.service"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("installed unit differs from %s (%v)", unit, err)
		}
		if st, err := os.Stat(filepath.Join(prefix, "etc", "procmon")); err != nil || !st.IsDir() {
			t.Errorf("--server did not create %s/etc/procmon: %v", prefix, err)
		}
	}

	again, code := runInstall(t, args...)
	if code != 0 || strings.Count(again, "unchanged ") < 2 {
		t.Fatalf("re-running install.sh %v: exit %d, want 0 with the binaries unchanged:\n%s", args, code, again)
	}
	checkExampleConfigs(t, filepath.Join(prefix, "bin", "deploy"))
}

// checkExampleConfigs has the installed deploy read every example
// deploy.conf and the top-level deploy.conf.example.
func checkExampleConfigs(t *testing.T, deploy string) {
	confs, _ := filepath.Glob("*/deploy.conf")
	confs = append(confs, filepath.Join("..", "deploy.conf.example"))
	for _, conf := range confs {
		out, err := exec.Command(deploy, "-c", conf, "production", "config").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "path /var/www/") {
			t.Errorf("deploy -c %s production config: %v\n%s", conf, err, out)
		}
	}
}

// runInstall runs ../install.sh from a directory of its own and returns its
// output and exit code.
func runInstall(t *testing.T, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{abs(t, "../install.sh")}, args...)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("install.sh %v did not finish in 5m:\n%s", args, out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("run install.sh: %v", err)
	return "", -1
}
