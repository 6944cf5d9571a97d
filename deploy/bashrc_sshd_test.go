package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/internal/testusers"
)

// TestBashrcReadOnceOverSSHD: a deploy user whose login shell is bash,
// through a real sshd: one remote command reads the user's ~/.bashrc
// once (it used to be twice: the login shell's read, then the script's
// bash's), and a hook still sees what it exported.
func TestBashrcReadOnceOverSSHD(t *testing.T) {
	u := testusers.AddUser(t) // login shell /bin/bash
	shared := testusers.SharedDir(t)
	reads := filepath.Join(u.Home, "rc-reads")
	rc := "echo read >>'" + reads + "'\nexport FROM_RC=yes\n"
	writeOwned(t, filepath.Join(u.Home, ".bashrc"), rc, u)
	srv := sshtest.Start(t, sshtest.Options{User: u.Name})
	home := sshtest.FakeHome(t, "", srv)
	t.Setenv("SSH_AUTH_SOCK", "")

	o := &origin{t: t, dir: filepath.Join(shared, "origin")}
	o.git("init", "-q", "-b", "main", o.dir)
	o.commit(nil)
	path := filepath.Join(shared, "app")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{o.dir, path} {
		if out, err := exec.Command("chown", "-R", strconv.Itoa(u.UID)+":"+strconv.Itoa(u.GID), p).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v\n%s", p, err, out)
		}
	}
	saw := filepath.Join(path, "hook-saw")
	env := &config.Env{Name: "production", Repo: o.dir, Path: path,
		PostSetup: `printf '%s' "${FROM_RC:-unset}" >'` + saw + `'`}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := remote.Dial(ctx, remote.Target{Host: srv.Host(), Port: srv.Port(), User: srv.User()}, remote.Options{HomeDir: home})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := &syncbuf.Buffer{}
	if err := Setup(ctx, c, env, Options{Host: "h", Stdout: out, Who: "tester@laptop"}); err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(reads)
	if n := strings.Count(string(b), "read\n"); n != 1 {
		t.Errorf("one remote command read ~/.bashrc %d times, want once", n)
	}
	if got, _ := os.ReadFile(saw); string(got) != "yes" {
		t.Errorf("the post-setup hook saw FROM_RC=%q, want yes (exported by ~/.bashrc)", got)
	}
}

// writeOwned writes a file that belongs to account a.
func writeOwned(t *testing.T, name, text string, a testusers.Account) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(name, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
}
