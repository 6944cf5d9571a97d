package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/internal/testfs"
)

// origin is a real git repository made in a temp dir, the repo to deploy.
type origin struct {
	t   testing.TB
	dir string
	n   int
}

func newOrigin(t testing.TB) *origin {
	t.Helper()
	o := &origin{t: t, dir: filepath.Join(t.TempDir(), "origin")}
	o.git("init", "-q", "-b", "main", o.dir)
	return o
}

func (o *origin) git(args ...string) string {
	o.t.Helper()
	dir := o.dir
	if args[0] == "init" {
		dir = filepath.Dir(o.dir)
	}
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=t@example.com", "-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		o.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content) and commits them; it returns the sha.
func (o *origin) commit(files map[string]string) string {
	o.t.Helper()
	o.n++
	if files == nil {
		files = map[string]string{"app.txt": "version " + string(rune('0'+o.n%10)) + "\n"}
	}
	testfs.WriteFiles(o.t, o.dir, files)
	o.git("add", "-A")
	o.git("commit", "-q", "--allow-empty", "-m", "commit "+time.Now().Format(time.RFC3339Nano))
	return o.git("rev-parse", "HEAD")
}

// server is a deploy target: an env whose path is in a temp dir, reached
// through the Local transport running the real remote script.
type server struct {
	t    testing.TB
	env  *config.Env
	conn *Local
	out  *syncbuf.Buffer
	// within bounds each deploy, setup and revert (0 = ctxFor's 60 s).
	within time.Duration
}

func newServer(t testing.TB, o *origin) *server {
	t.Helper()
	root := t.TempDir()
	testfs.Thaw(t, root) // a root deploy's cache entries are immutable
	return &server{
		t:    t,
		env:  &config.Env{Name: "production", Repo: o.dir, Path: filepath.Join(root, "srv", "app")},
		conn: &Local{Dir: root},
		out:  &syncbuf.Buffer{},
	}
}

func (s *server) opts() Options {
	return Options{Host: "local", Stdout: s.out, Who: "tester@laptop"}
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ctx bounds one call of s: within, or ctxFor's default.
func (s *server) ctx() context.Context {
	if s.within == 0 {
		return ctxFor(s.t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.within)
	s.t.Cleanup(cancel)
	return ctx
}

func (s *server) setup() {
	s.t.Helper()
	if err := Setup(s.ctx(), s.conn, s.env, s.opts()); err != nil {
		s.t.Fatalf("setup: %v\noutput:\n%s", err, s.out)
	}
}

func (s *server) deploy() *Result {
	s.t.Helper()
	res, err := Deploy(s.ctx(), s.conn, s.env, s.opts())
	if err != nil {
		s.t.Fatalf("deploy: %v\noutput:\n%s", err, s.out)
	}
	return res
}

func (s *server) revert(n int) *Result {
	s.t.Helper()
	res, err := Revert(s.ctx(), s.conn, s.env, n, s.opts())
	if err != nil {
		s.t.Fatalf("revert %d: %v\noutput:\n%s", n, err, s.out)
	}
	return res
}

// current returns the release id current points at ("" = none).
func (s *server) current() string {
	s.t.Helper()
	l, err := os.Readlink(filepath.Join(s.env.Path, "current"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return filepath.Base(l)
}

func (s *server) releases() []string {
	s.t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.env.Path, "releases"))
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids
}

func (s *server) log() []LogEntry {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.env.Path, ".deploys"))
	if err != nil {
		s.t.Fatal(err)
	}
	entries, err := ParseLog(data)
	if err != nil {
		s.t.Fatal(err)
	}
	return entries
}

func (s *server) lockLine() string {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.env.Path, ".deploy.lock"))
	if err != nil && !os.IsNotExist(err) {
		s.t.Fatal(err)
	}
	return string(data)
}

// waitFile waits (bounded) for a file to exist.
func waitFile(t testing.TB, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within 20s", path)
}

// gateHook is a hook that writes started, then waits (bounded) for release.
func gateHook(started, release string) string {
	return "touch '" + started + "'; for i in $(seq 600); do [ -e '" + release + "' ] && exit 0; sleep 0.05; done; exit 9"
}
