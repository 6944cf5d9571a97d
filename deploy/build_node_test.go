package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/internal/testfs"
)

// workspacesApp is an npm workspaces app: the root requires its package
// a (packages/a), which says version; its package-lock.json is npm's own
// (npm install --package-lock-only: no registry needed).
func workspacesApp(t *testing.T, version string) map[string]string {
	t.Helper()
	files := map[string]string{
		".nvmrc":                  "99\n", // said, and the deploy goes on (node_wanted: TestNodeWanted)
		"package.json":            `{ "name": "ws", "version": "1.0.0", "private": true, "workspaces": ["packages/*"], "dependencies": { "a": "1.0.0" } }` + "\n",
		"packages/a/package.json": `{ "name": "a", "version": "1.0.0" }` + "\n",
		"packages/a/index.js":     "module.exports = " + quoteJSON(version) + "\n",
	}
	dir := t.TempDir()
	testfs.WriteFiles(t, dir, files)
	cmd := exec.Command("npm", "install", "--package-lock-only", "--no-audit", "--no-fund", "--offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install --package-lock-only: %v\n%s", err, out)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	files["package-lock.json"] = string(lock)
	return files
}

// TestBuildAutoNodeWorkspacesUncached: an app with workspaces installs
// fresh on every deploy and says why: its root node_modules links to the
// packages (node_modules/a -> ../packages/a), and a package may keep a
// node_modules of its own (another version of a dependency), neither of
// which a cache entry of the root's node_modules keeps. With the link
// method (what a non-root deploy user gets) the cached node_modules
// pointed into the cache, where ../packages/a is not: require('a')
// failed, or found an older release's.
func TestBuildAutoNodeWorkspacesUncached(t *testing.T) {
	needTool(t, "npm")
	o, s := autoServer(t, workspacesApp(t, "one"))
	s.env.Vars = map[string]string{"DEPLOY_CACHE_METHOD": "link"} // as a non-root deploy user gets
	requireA := func() string {
		t.Helper()
		cmd := exec.Command("node", "-e", "console.log(require('a'))")
		cmd.Dir = filepath.Join(s.env.Path, "current")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("require('a') in current: %v\n%s\ndeploy output:\n%s", err, out, s.out)
		}
		return strings.TrimSpace(string(out))
	}
	for i, version := range []string{"one", "two"} {
		if i > 0 {
			o.commit(workspacesApp(t, version)) // the lockfile unchanged
			s.out = &syncbuf.Buffer{}
		}
		res := s.deploy()
		if got := requireA(); got != version {
			t.Errorf("deploy %d: require('a') says %q, want %q", i+1, got, version)
		}
		if !strings.Contains(s.out.String(), "node: .nvmrc asks for node 99, and the build runs node v") {
			t.Errorf("deploy %d did not say that .nvmrc asks for node 99:\n%s", i+1, s.out)
		}
		if b := res.Built; len(b) != 1 || b[0].Deps != "uncached" ||
			!strings.Contains(s.out.String(), "deps: node_modules installed fresh and not cached: the app has workspaces (package.json's workspaces)") {
			t.Errorf("deploy %d: Built %+v, want deps uncached, said:\n%s", i+1, b, s.out)
		}
	}
}

// TestBuildAutoNodeBunLockRefused: an app locked by bun alone is refused
// in step build, naming the file and what to do, as Python's uv.lock is:
// npm install without it would ship versions the app was never tested
// with. Nothing switches.
func TestBuildAutoNodeBunLockRefused(t *testing.T) {
	needTool(t, "npm")
	for _, lock := range []string{"bun.lockb", "bun.lock"} {
		t.Run(lock, func(t *testing.T) {
			o, s := autoServer(t, nodeApp("app", ""))
			first := s.deploy().NewRelease
			files := nodeApp("app", "")
			delete(files, "package-lock.json")
			files[lock] = "{}\n"
			o.commit(files)
			o.git("rm", "-q", "package-lock.json")
			o.git("commit", "-q", "-m", "bun")
			_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
			var se *StepError
			if !errors.As(err, &se) || se.Step != "build" || !strings.Contains(se.Message, "node: "+lock+" pins this app's dependencies, but build auto installs with npm") {
				t.Fatalf("err = %v, want a build failure naming %s\n%s", err, lock, s.out)
			}
			if s.current() != first {
				t.Errorf("current moved to %s", s.current())
			}
		})
	}
}

// TestBuildAutoPnpmMissingSaysCorepack: a pnpm-locked app on a server
// without pnpm fails the build naming it and how Node itself provides
// it (corepack, which ships with Node), and switches nothing.
func TestBuildAutoPnpmMissingSaysCorepack(t *testing.T) {
	files := nodeApp("app", "")
	delete(files, "package-lock.json")
	files["pnpm-lock.yaml"] = "lockfileVersion: '9.0'\n"
	o := newOrigin(t)
	o.commit(files)
	s := newServer(t, o)
	s.env.Build = "auto"
	s.env.Vars = map[string]string{"PATH": "/usr/bin:/bin"} // node and npm, as Debian's nodejs installs them; no pnpm
	s.setup()
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "build" ||
		!strings.Contains(se.Message, "node: 'pnpm' was not found in the hook shell's PATH on this server: install it (Node's corepack provides pnpm: run 'corepack enable' as root once)") {
		t.Fatalf("err = %v, want pnpm not found, with corepack's hint\n%s", err, s.out)
	}
	if s.current() != "" {
		t.Errorf("current is %s", s.current())
	}
}
