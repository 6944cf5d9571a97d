package deploy

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
)

// sshOrigin serves origins over a real sshd on loopback, as a real origin
// (GitHub, a git server) is reached, through a proxy that counts, cuts
// and freezes the connections. Env is what the server's git needs to
// reach it (GIT_SSH_COMMAND with its own key and known_hosts).
type sshOrigin struct {
	srv   *sshtest.Server
	proxy *sshtest.Cutter
	ssh   []string // ssh and its options, without host and command
	Env   []string
}

func newSSHOrigin(tb testing.TB) *sshOrigin {
	tb.Helper()
	// GIT_PROTOCOL passed, as GitHub's sshd does, so that git speaks
	// protocol v2 (and asks only for the refs its refspecs name)
	srv := sshtest.Start(tb, sshtest.Options{ExtraConfig: []string{"AcceptEnv GIT_PROTOCOL"}})
	home := sshtest.FakeHome(tb, "", srv)
	ssh := []string{"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "IdentityFile=" + filepath.Join(home, ".ssh", "id_ed25519"),
		"-o", "UserKnownHostsFile=" + filepath.Join(home, ".ssh", "known_hosts"),
		"-o", "HostKeyAlias=" + fmt.Sprintf("[%s]:%d", srv.Host(), srv.Port())}
	// GIT_SSH_COMMAND is run by sh: the paths are temp dirs without spaces
	return &sshOrigin{srv: srv, proxy: sshtest.NewCutter(tb, srv.Addr()), ssh: ssh,
		Env: []string{"GIT_SSH_COMMAND=" + strings.Join(ssh, " ")}}
}

// URL is the ssh:// URL of the repository at dir, through the proxy.
func (o *sshOrigin) URL(dir string) string {
	return fmt.Sprintf("ssh://%s@%s:%d%s", o.srv.User(), o.srv.Host(), o.proxy.Port(), dir)
}

// True times one bare `ssh origin true` through the proxy.
func (o *sshOrigin) True(tb testing.TB) time.Duration {
	tb.Helper()
	args := append(append([]string{}, o.ssh[1:]...), "-p", fmt.Sprint(o.proxy.Port()), o.srv.User()+"@"+o.srv.Host(), "true")
	start := time.Now()
	if out, err := exec.Command("ssh", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ssh true to the origin's sshd: %v\n%s", err, out)
	}
	return time.Since(start)
}

// TestOriginStallsMidFetch: the connection to an origin over SSH stalls
// while the deploy's fetch waits on it (the proxy swallows its bytes), and
// then either the network drops it (the proxy cuts it) or the laptop gives
// up (its context ends, as Ctrl-C or a lost session does). Either way the
// deploy fails; current and the releases are as they were, .deploys only
// gained the attempt's failed line (no release), the lock is free, nothing
// is left talking to the origin, and once the network is back the next
// deploy ships the new commit from the same mirror.
func TestOriginStallsMidFetch(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  bool   // the network drops it; else the laptop gives up
		want string // in the deploy's error
	}{
		{"network drops", true, "git fetch failed"},
		{"laptop gives up", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			so := newSSHOrigin(t)
			o := newOrigin(t)
			a := o.commit(nil)
			s := newServer(t, o)
			s.env.Repo = so.URL(o.dir)
			s.conn.Env = so.Env
			s.setup()
			if r := s.deploy(); r.NewSHA != a {
				t.Fatalf("first deploy shipped %s, want %s", r.NewSHA, a)
			}
			cur, rels, log := s.current(), strings.Join(s.releases(), " "), len(s.log())

			b := o.commit(nil)
			so.proxy.Freeze()
			before := so.proxy.Accepted()
			done := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			go func() {
				_, err := Deploy(ctx, s.conn, s.env, s.opts())
				done <- err
			}()
			deadline := time.Now().Add(20 * time.Second)
			for so.proxy.Accepted() == before {
				if time.Now().After(deadline) {
					t.Fatal("the deploy never connected to the origin")
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // the fetch is waiting on the frozen link
			if tc.cut {
				if n := so.proxy.Cut(); n != 1 {
					t.Errorf("cut %d connections to the origin, want the fetch's one", n)
				}
			} else {
				cancel()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the deploy did not end")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("deploy: %v, want an error with %q\n%s", err, tc.want, s.out)
			}
			// the server side finishes its cleanup after the laptop left
			deadline = time.Now().Add(20 * time.Second)
			for s.lockLine() != "" || so.proxy.Live() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the lock (%q) or %d connections to the origin are still held", s.lockLine(), so.proxy.Live())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got := s.current(); got != cur {
				t.Errorf("current is %s, was %s", got, cur)
			}
			if got := strings.Join(s.releases(), " "); got != rels {
				t.Errorf("releases %s, were %s", got, rels)
			}
			// a failure before the switch is logged failed (DESIGN), here
			// with no release: none was made
			if got := s.log(); len(got) != log+1 || got[log].Event != EventFailed || got[log].Release != "" {
				t.Errorf(".deploys: %+v, want the %d lines it had and one failed line without a release", got, log)
			}

			so.proxy.Thaw()
			if r := s.deploy(); r.NewSHA != b {
				t.Fatalf("after the network came back: shipped %s, want %s\n%s", r.NewSHA, b, s.out)
			}
		})
	}
}
