package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/deploy/script"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testfs"
)

// controlOnly bounds what a command sends when the server has its copy
// of the script: the control channel's few words, not the script's text.
const controlOnly = 1 << 10

// TestScriptSentOnlyWhenServerLacksIt: the first command to a server
// sends the remote script; once its copy is kept, deploys, reverts and
// listings send only their control words (none of the 120 kB), and the
// deploy is what it was: current, .deploys and the releases agree.
func TestScriptSentOnlyWhenServerLacksIt(t *testing.T) {
	o := newOrigin(t)
	o.commit(map[string]string{"app.txt": "one\n"})
	s := newServer(t, o)
	home := t.TempDir()
	s.conn.Env = []string{"HOME=" + home, "XDG_CACHE_HOME="}
	conn := &meteredConn{Conn: s.conn}
	if err := Setup(s.ctx(), conn, s.env, s.opts()); err != nil {
		t.Fatalf("setup: %v\n%s", err, s.out)
	}
	if n := conn.sent.Load(); n < int64(len(script.Script())) {
		t.Fatalf("setup sent %d bytes: the script (%d) was not sent to a server without its copy", n, len(script.Script()))
	}
	copyFile := filepath.Join(home, ".cache", "deploy-remote", script.Hash(script.Script()))
	waitFile(t, copyFile)
	// (the copy is renamed into place whole: once it exists it is used)

	sent := func(what string, f func() error) {
		t.Helper()
		conn.sent.Store(0)
		if err := f(); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, s.out)
		}
		if n := conn.sent.Load(); n > controlOnly {
			t.Errorf("%s sent %d bytes although the server has the script", what, n)
		}
	}
	var first, second *Result
	sent("deploy", func() (err error) { first, err = Deploy(s.ctx(), conn, s.env, s.opts()); return })
	o.commit(map[string]string{"app.txt": "two\n"})
	sent("second deploy", func() (err error) { second, err = Deploy(s.ctx(), conn, s.env, s.opts()); return })
	sent("list", func() error { _, err := List(s.ctx(), conn, s.env, s.opts()); return err })
	sent("revert", func() error { _, err := Revert(s.ctx(), conn, s.env, 1, s.opts()); return err })
	// exec's stdin is the user's from its first byte
	var out strings.Builder
	sent("exec", func() error {
		o := s.opts()
		o.Stdin, o.Stdout = strings.NewReader("from the laptop\n"), &out
		return Exec(s.ctx(), conn, s.env, []string{"cat"}, o)
	})
	if out.String() != "from the laptop\n" {
		t.Errorf("exec cat gave %q, want the laptop's stdin", out.String())
	}
	if got := s.current(); got != first.NewRelease {
		t.Fatalf("current = %s after the revert, want %s", got, first.NewRelease)
	}
	log := s.log()
	if len(log) != 3 || log[1].Release != second.NewRelease || log[2].Release != first.NewRelease || log[2].Event != "revert" {
		t.Fatalf(".deploys = %+v", log)
	}
	b, err := os.ReadFile(filepath.Join(s.env.Path, "current", "app.txt"))
	if err != nil || string(b) != "one\n" {
		t.Fatalf("current/app.txt = %q, %v", b, err)
	}
}

// TestScriptCopyOverSSHD: through a real sshd, whose sessions start in an
// empty home (a fresh server), the first command sends the script and
// later ones, once the copy is kept, only their control words; the
// deploy works the same.
func TestScriptCopyOverSSHD(t *testing.T) {
	mount := t.TempDir()
	h := sshtest.StartHost(t, mount, sshtest.HostOptions{CleanHome: true})
	t.Setenv("SSH_AUTH_SOCK", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := remote.Dial(ctx, remote.Target{Host: h.Host(), Port: h.Port(), User: h.User()},
		remote.Options{HomeDir: sshtest.FakeHome(t, "", h.Server)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := &meteredConn{Conn: c}
	o := newOrigin(t)
	o.commit(map[string]string{"app.txt": "one\n"})
	s := newServer(t, o)
	s.env.Path = filepath.Join(mount, "app")
	if err := Setup(ctx, conn, s.env, s.opts()); err != nil {
		t.Fatalf("setup: %v\n%s", err, s.out)
	}
	if n := conn.sent.Load(); n < int64(len(script.Script())) {
		t.Fatalf("setup sent %d bytes: the script (%d) was not sent to a fresh server", n, len(script.Script()))
	}
	// the copy is saved beside the first command: wait until a command
	// finds it (at most 10 s)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		conn.sent.Store(0)
		if _, err := List(ctx, conn, s.env, s.opts()); err != nil && !NothingDeployed(err) {
			t.Fatal(err)
		}
		if conn.sent.Load() <= controlOnly {
			break
		}
		if time.Now().After(end) {
			t.Fatal("every command still sends the script 10 s after the first")
		}
	}
	conn.sent.Store(0)
	res, err := Deploy(ctx, conn, s.env, s.opts())
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, s.out)
	}
	if n := conn.sent.Load(); n > controlOnly {
		t.Errorf("deploy sent %d bytes although the server has the script", n)
	}
	// the host's /<mount>/app is the test's h.Root/app
	if got, err := os.Readlink(filepath.Join(h.Root, "app", "current")); err != nil || filepath.Base(got) != res.NewRelease {
		t.Fatalf("current = %s (%v), want releases/%s", got, err, res.NewRelease)
	}
}

// TestCheckSaysWhetherTheScriptIsKept: `deploy <env> check` tells whether
// the server keeps the script's copy: kept by the first command, run by
// the next, and why not when the login user's home cannot hold it
// (every command then sends the script, as it always did).
func TestCheckSaysWhetherTheScriptIsKept(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	home := t.TempDir()
	check := func(env ...string) CheckItem {
		t.Helper()
		s.conn.Env = env
		items, err := Check(s.ctx(), s.conn, s.env, s.opts())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Name == "script-copy" {
				return it
			}
		}
		t.Fatalf("no script-copy item in %+v", items)
		return CheckItem{}
	}
	copies := filepath.Join(home, ".cache", "deploy-remote")
	for _, tc := range []struct {
		name   string
		env    []string
		detail string
	}{
		{"first", []string{"HOME=" + home, "XDG_CACHE_HOME="}, "kept in " + copies},
		{"next", []string{"HOME=" + home, "XDG_CACHE_HOME="}, "ran the copy in " + copies},
		{"XDG_CACHE_HOME", []string{"HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, "xdg")}, "kept in " + filepath.Join(home, "xdg", "deploy-remote")},
		{"no home", []string{"HOME=", "XDG_CACHE_HOME="}, "HOME is not an absolute directory"},
		{"unwritable", []string{"HOME=" + testfs.HomeWithoutCache(t), "XDG_CACHE_HOME="}, "cannot keep a copy"},
	} {
		if it := check(tc.env...); !it.OK || !strings.Contains(it.Detail, tc.detail) {
			t.Errorf("%s: %+v, want ok and %q", tc.name, it, tc.detail)
		}
	}
}
