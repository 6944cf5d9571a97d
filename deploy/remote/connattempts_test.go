package remote_test

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/freeport"
	"github.com/deploytool/deploy/internal/sshtest"
)

// TestConnectionAttemptsLikeSSH: with ssh_config ConnectionAttempts N,
// ssh tries a refused or timed-out TCP connect again a second later, up
// to N times (a server rebooting, sshd restarting during an upgrade).
// deploy tried once and failed where ssh would have connected. The
// server here starts listening 2.5 s after the client's first try: real
// ssh with ConnectionAttempts 5 gets in, and so must deploy (both
// readers); with the default (1) both are refused at once.
func TestConnectionAttemptsLikeSSH(t *testing.T) {
	isolate(t)
	requireSSH(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	// lateServer listens on a free port only after delay, forwarding to
	// sshd; it returns the port at once.
	lateServer := func(t *testing.T, delay time.Duration) int {
		port, err := freeport.Port()
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var l net.Listener
		stop := make(chan struct{})
		t.Cleanup(func() {
			close(stop)
			mu.Lock()
			defer mu.Unlock()
			if l != nil {
				l.Close()
			}
		})
		go func() {
			select {
			case <-time.After(delay):
			case <-stop:
				return
			}
			mu.Lock()
			select {
			case <-stop:
				mu.Unlock()
				return
			default:
			}
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			l = ln
			mu.Unlock()
			if err != nil {
				return // the client then fails, and says so
			}
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					up, err := net.Dial("tcp", s.Addr())
					if err != nil {
						return
					}
					defer up.Close()
					go func() { _, _ = io.Copy(up, c) }()
					_, _ = io.Copy(c, up)
				}()
			}
		}()
		return port
	}
	config := func(t *testing.T, port int, attempts string) string {
		cfg := filepath.Join(t.TempDir(), "config")
		writeFileT(t, cfg, fmt.Sprintf("Host web\n\tHostName 127.0.0.1\n\tPort %d\n\tUser %s\n\tIdentityFile %s\n\tIdentitiesOnly yes\n\tHostKeyAlias late\n\tUserKnownHostsFile %s\n\t%s\n",
			port, s.User(), filepath.Join(home, ".ssh", "id_ed25519"), filepath.Join(home, ".ssh", "known_hosts"), attempts))
		return cfg
	}
	// the known key under the alias both use, whatever the port
	writeFileT(t, filepath.Join(home, ".ssh", "known_hosts"), "late "+strings.SplitN(s.KnownHostsLine(), " ", 2)[1]+"\n")

	for _, tc := range []struct {
		attempts string
		in       bool
	}{{"ConnectionAttempts 5", true}, {"", false}} {
		t.Run(strings.ReplaceAll(cmp.Or(tc.attempts, "default"), " ", "="), func(t *testing.T) {
			cfg := config(t, lateServer(t, 2500*time.Millisecond), tc.attempts)
			out, err := exec.Command("ssh", "-F", cfg, "-o", "BatchMode=yes", "web", "echo in").CombinedOutput()
			if (err == nil) != tc.in {
				t.Fatalf("premise: real ssh with %q: %v %s", tc.attempts, err, out)
			}
			forEachResolver(t, "dial", func(t *testing.T, res remote.Resolver) {
				cfg := config(t, lateServer(t, 2500*time.Millisecond), tc.attempts)
				start := time.Now()
				c, err := remote.Dial(ctxT(t), remote.Target{Host: "web"}, remote.Options{HomeDir: home, SSHConfigFile: cfg, Resolver: res})
				if (err == nil) != tc.in {
					t.Fatalf("deploy with %q after %s: %v; ssh got in: %v", tc.attempts, time.Since(start).Round(time.Millisecond), err, tc.in)
				}
				if err != nil {
					if !strings.Contains(err.Error(), "connection refused") {
						t.Errorf("error %v; want the refusal", err)
					}
					return
				}
				defer c.Close()
				if got := output(t, c, "echo in"); got != "in\n" {
					t.Errorf("output %q", got)
				}
			})
		})
	}
}
