package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testfs"
)

// originRepo is a real git repository the server fetches from.
type originRepo struct {
	t   *testing.T
	dir string
	n   int
}

func newOrigin(t *testing.T) *originRepo {
	t.Helper()
	o := &originRepo{t: t, dir: filepath.Join(t.TempDir(), "origin")}
	o.git("init", "-q", "-b", "main", o.dir)
	o.commit()
	return o
}

func (o *originRepo) git(args ...string) string {
	o.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		o.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit adds a commit that changes VERSION and returns its sha.
func (o *originRepo) commit() string {
	o.t.Helper()
	o.n++
	if err := os.WriteFile(filepath.Join(o.dir, "VERSION"), []byte(fmt.Sprintf("v%d\n", o.n)), 0o644); err != nil {
		o.t.Fatal(err)
	}
	o.git("-C", o.dir, "add", "-A")
	o.git("-C", o.dir, "commit", "-q", "-m", fmt.Sprintf("version %d", o.n))
	return o.git("-C", o.dir, "rev-parse", "HEAD")
}

// fixture is one sshd "host", a client HOME trusting it, an origin and a
// config file pointing at a server path in a temp dir.
type fixture struct {
	t      *testing.T
	sshd   *sshtest.Server
	origin *originRepo
	home   string
	path   string // the app's path on the "server"
	conf   string // deploy.conf path
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, sshtest.Options{})
}

// newFixtureWith is newFixture with a server started with opts.
func newFixtureWith(t *testing.T, opts sshtest.Options) *fixture {
	t.Helper()
	sshd := sshtest.Start(t, opts)
	root := t.TempDir()
	testfs.Thaw(t, root) // a root deploy's cache entries are immutable
	f := &fixture{t: t, sshd: sshd, origin: newOrigin(t),
		home: sshtest.FakeHome(t, "", sshd),
		path: filepath.Join(root, "srv", "app")}
	useHome(t, f.home)
	t.Setenv("SSH_AUTH_SOCK", "")
	return f
}

// useHome makes home the CLI's ~/.ssh through DEPLOY_SSH_HOME (it reads
// the passwd entry's home otherwise, as ssh does), and HOME too, so that
// git and the other tools it runs do not read the real user's files.
func useHome(t *testing.T, home string) {
	t.Setenv("HOME", home)
	t.Setenv(config.SSHHomeEnv, home)
}

// homeEnv is useHome for a child process: os.Environ() with home.
func homeEnv(home string) []string {
	return append(os.Environ(), "HOME="+home, config.SSHHomeEnv+"="+home)
}

// writeINI writes a classic deploy.conf for the fixture, with extra lines.
func (f *fixture) writeINI(extra ...string) string {
	f.t.Helper()
	lines := []string{
		"# written by the test",
		"[production]",
		"user " + f.sshd.User(),
		fmt.Sprintf("host %s", f.sshd.Host()),
		fmt.Sprintf("port %d", f.sshd.Port()),
		"repo " + f.origin.dir,
		"path " + f.path,
		"ref origin/main",
	}
	f.conf = filepath.Join(f.t.TempDir(), "deploy.conf")
	writeFile(f.t, f.conf, strings.Join(append(lines, extra...), "\n")+"\n")
	return f.conf
}

// writeTOML writes the TOML twin of writeINI's file.
func (f *fixture) writeTOML(extra ...string) string {
	f.t.Helper()
	lines := []string{
		"[production]",
		fmt.Sprintf("user = %q", f.sshd.User()),
		fmt.Sprintf("host = %q", f.sshd.Host()),
		fmt.Sprintf("port = %d", f.sshd.Port()),
		fmt.Sprintf("repo = %q", f.origin.dir),
		fmt.Sprintf("path = %q", f.path),
		`ref = "origin/main"`,
	}
	f.conf = filepath.Join(f.t.TempDir(), "deploy.toml")
	writeFile(f.t, f.conf, strings.Join(append(lines, extra...), "\n")+"\n")
	return f.conf
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cli runs the deploy command line in-process and returns its output and
// exit code.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (f *fixture) run(ctx context.Context, args ...string) cliResult {
	f.t.Helper()
	var out, errOut bytes.Buffer
	argv := append([]string{"deploy", "-c", f.conf}, args...)
	err := run(ctx, argv, strings.NewReader(""), &out, &errOut)
	code := exitCode(ctx, err, &errOut)
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// mustRun runs and fails the test on a non-zero exit.
func (f *fixture) mustRun(args ...string) cliResult {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.run(ctx, args...)
	if r.code != 0 {
		f.t.Fatalf("deploy %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// current returns the release id current points at ("" = none).
func (f *fixture) current() string {
	f.t.Helper()
	target, err := os.Readlink(filepath.Join(f.path, "current"))
	if err != nil {
		return ""
	}
	return filepath.Base(target)
}

// currentSHA is the commit in the release current points at.
func (f *fixture) currentSHA() string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.path, "current", "REVISION"))
	if err != nil {
		f.t.Fatalf("current REVISION: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// events returns the event column of .deploys, in order.
func (f *fixture) events() []string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.path, ".deploys"))
	if err != nil {
		f.t.Fatalf(".deploys: %v", err)
	}
	var ev []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) < 4 {
			f.t.Fatalf(".deploys line %q has %d fields", line, len(fields))
		}
		ev = append(ev, fields[3])
	}
	return ev
}

// releases lists the release directories.
func (f *fixture) releases() []string {
	f.t.Helper()
	entries, _ := os.ReadDir(filepath.Join(f.path, "releases"))
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// waitFile waits, bounded, for a file a hook creates.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// startProcmon runs `procmon run -c conf` (the binary pm) as the unit
// does, until the test ends (SIGTERM, then wait).
func startProcmon(t *testing.T, pm, conf string) {
	t.Helper()
	daemon := exec.Command(pm, "run", "-c", conf)
	daemon.Stdout, daemon.Stderr = io.Discard, io.Discard
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		_ = daemon.Wait()
	})
}
