// Package nginxtest runs a real nginx on loopback as the reverse proxy a
// careful user puts in front of an app: the yardstick procmon's proxy is
// measured against (its benchmarks) and compared with (its conformance
// test sends the same hostile bytes to both). nginx runs as a child of
// the test, not as a daemon, with every path it writes under a temporary
// prefix of its own, on 127.0.0.1:<free port>, and is stopped in the
// test's Cleanup.
package nginxtest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
)

// RequireEnv turns a skip for a missing nginx into a failure (make test
// and make bench set it: every tool is required there).
const RequireEnv = "DEPLOY_REQUIRE_SSHD"

// Path is the nginx binary, or "" when there is none. Debian installs it
// in /usr/sbin, which is not on a non-root PATH.
func Path() string {
	if path, err := exec.LookPath("nginx"); err == nil {
		return path
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// Require returns nginx's path. Without nginx it skips t, or fails it
// when DEPLOY_REQUIRE_SSHD=1.
func Require(t testing.TB) string {
	t.Helper()
	if path := Path(); path != "" {
		return path
	}
	msg := "nginx is not installed (hint: apt-get install nginx-light, or make deps-test)"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s; %s=1 requires it", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// conf is the reverse proxy for one upstream. Each setting is one a
// careful user writes in front of an app, and most are the choices
// procmon's proxy makes too (procmon/proxy.Config), spelled out even where
// they are nginx's defaults, so that the comparison is of behaviour, not
// of limits:
//
//   - one worker process, keep-alive connections to the upstream
//     (proxy_http_version 1.1, Connection ""): procmon keeps its worker
//     connections alive too;
//   - Host $host, so the app sees the host the client asked for;
//   - X-Forwarded-For $remote_addr and X-Forwarded-Proto $scheme, not
//     $proxy_add_x_forwarded_for: facing the internet, a client's own
//     X-Forwarded-* is not to be believed (procmon's default, trusted = []);
//     X-Forwarded-Host $host, which procmon sets as well;
//   - underscores_in_headers off and ignore_invalid_headers on (the
//     defaults): a header name that is not letters, digits and "-" is
//     dropped, so that `X_Forwarded_For` never reaches an app that folds
//     "_" and "-";
//   - large_client_header_buffers 4 8k (the default): a request head of
//     up to 32 KB, procmon's default max_head;
//   - client_header_timeout, client_body_timeout, send_timeout,
//     proxy_read_timeout 60s and keepalive_timeout 75s (the defaults),
//     procmon's defaults (Options.ReadTimeout changes proxy_read_timeout);
//   - request bodies buffered (proxy_request_buffering on, the default),
//     as procmon buffers bodies up to buffer_body; client_max_body_size
//     stays at its default (1 MB), where procmon has no cap.
//
// No access log; every path nginx writes is under the prefix dir. %[1]s
// is the `user` line, %[2]s the dir, %[3]s the upstream, %[4]s the listen
// address, %[5]d the most connections (clients and upstream), %[6]s the
// error log's level, %[7]s proxy_read_timeout.
const conf = `%[1]s
worker_processes 1;
worker_rlimit_nofile %[5]d;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log %[6]s;
events {
	worker_connections %[5]d;
}
http {
	access_log off;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	underscores_in_headers off;
	ignore_invalid_headers on;
	large_client_header_buffers 4 8k;
	client_header_timeout 60s;
	client_body_timeout 60s;
	send_timeout 60s;
	keepalive_timeout 75s;
	upstream worker {
		server %[3]s;
		keepalive 64;
	}
	server {
		listen %[4]s;
		location / {
			proxy_pass http://worker;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $remote_addr;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_set_header X-Forwarded-Host $host;
			proxy_read_timeout %[7]s;
		}
	}
}
`

// Options says how to run nginx.
type Options struct {
	// Bin is the nginx binary; "" means Require's.
	Bin string
	// Upstream is the app's host:port.
	Upstream string
	// Dir is where the prefix directory is made; "" means t.TempDir().
	Dir string
	// Conns is the most connections, clients and upstream together
	// (worker_connections); 0 means 1024.
	Conns int
	// LogLevel is the error log's; "" means warn. At info nginx says why
	// it refused a request.
	LogLevel string
	// ReadTimeout is proxy_read_timeout, in nginx's syntax ("500ms");
	// "" means 60s, the default.
	ReadTimeout string
}

// Proxy is a running nginx: its master, in a process group of its own
// with its worker.
type Proxy struct {
	// Addr is the address nginx listens on, 127.0.0.1:<port>.
	Addr string
	// Dir is its prefix: the config, the pid file, the error log, the
	// temp files.
	Dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Start runs nginx as opt says, stopped in t's Cleanup, and waits until
// it answers 200 through to the upstream.
func Start(t testing.TB, opt Options) *Proxy {
	t.Helper()
	if opt.Bin == "" {
		opt.Bin = Require(t)
	}
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	if opt.Conns == 0 {
		opt.Conns = 1024
	}
	if opt.LogLevel == "" {
		opt.LogLevel = "warn"
	}
	if opt.ReadTimeout == "" {
		opt.ReadTimeout = "60s"
	}
	dir, err := os.MkdirTemp(opt.Dir, "nginx-")
	if err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // else the worker process drops to nobody, who cannot write dir
	}
	p := &Proxy{Addr: freeport.Addr(t), Dir: dir, exited: make(chan struct{})}
	path := filepath.Join(dir, "nginx.conf")
	text := fmt.Appendf(nil, conf, user, dir, opt.Upstream, p.Addr, opt.Conns, opt.LogLevel, opt.ReadTimeout)
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	// -e: the error log from the start, before the config names it.
	p.cmd = exec.Command(opt.Bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)
	if err := p.waitReady(20 * time.Second); err != nil {
		t.Fatalf("nginx in front of %s: %v\n%s", opt.Upstream, err, p.ErrorLog())
	}
	return p
}

// waitReady polls nginx until it answers 200, it exits, or timeout passes.
func (p *Proxy) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.exited:
			return fmt.Errorf("nginx exited: %v", p.cmd.ProcessState)
		default:
		}
		if resp, err := client.Get("http://" + p.Addr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("no 200 from http://%s/ within %s", p.Addr, timeout)
}

// PID is the master's process id, which is also its process group's.
func (p *Proxy) PID() int { return p.cmd.Process.Pid }

// ErrorLog is what nginx wrote to its error log so far.
func (p *Proxy) ErrorLog() string {
	log, _ := os.ReadFile(filepath.Join(p.Dir, "error.log"))
	return strings.TrimSpace(string(log))
}

// Stop asks nginx to finish gracefully (SIGQUIT) and waits for it, up to
// 10 s, then kills its process group. It is safe to call more than once.
func (p *Proxy) Stop() {
	p.once.Do(func() {
		pgid := p.cmd.Process.Pid
		syscall.Kill(pgid, syscall.SIGQUIT)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
	})
}
