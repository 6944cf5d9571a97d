package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
)

// needTool skips a test whose tool is missing, or fails it under
// DEPLOY_REQUIRE_SSHD=1 (make test: every tool is required).
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s is not installed: run scripts/deps.sh test", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

// nodeApp is a Node app with no dependencies: its lockfile is real, and
// `npm ci` needs no network. build is its build script ("" = none).
func nodeApp(name, build string) map[string]string {
	scripts := ""
	if build != "" {
		scripts = `, "scripts": { "build": ` + quoteJSON(build) + ` }`
	}
	return map[string]string{
		"package.json": `{ "name": "` + name + `", "version": "1.0.0", "private": true` + scripts + " }\n",
		"package-lock.json": `{ "name": "` + name + `", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": { "": { "name": "` + name + `", "version": "1.0.0" } } }
`,
	}
}

func quoteJSON(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// autoServer is a server, set up, with build auto, for an origin whose
// first commit holds files (a Node app: npm is required).
func autoServer(t *testing.T, files map[string]string) (*origin, *server) {
	t.Helper()
	needTool(t, "npm")
	o := newOrigin(t)
	o.commit(files)
	s := newServer(t, o)
	s.env.Build = "auto"
	s.setup()
	return o, s
}

// TestBuildAutoGo: build auto detects go.mod and a root main package,
// builds the binary named after the module into the release before the
// switch, with go's caches under <path>/.cache/go, and says so.
func TestBuildAutoGo(t *testing.T) {
	needTool(t, "go")
	o := newOrigin(t)
	o.commit(map[string]string{
		"go.mod":  "module example.com/hello/v2\n\ngo 1.21\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from go\") }\n",
	})
	s := newServer(t, o)
	// The go cache under the app's path starts empty: go build compiles
	// the standard library first, which took over 60 s in a loaded CI.
	s.within = 3 * time.Minute
	s.env.Build = "auto"
	s.setup()
	res := s.deploy()
	bin := filepath.Join(s.env.Path, "current", "hello")
	out, err := exec.Command(bin).Output()
	if err != nil || string(out) != "hello from go\n" {
		t.Fatalf("%s: %q, %v\noutput:\n%s", bin, out, err, s.out)
	}
	if len(res.Built) != 1 || res.Built[0] != (Built{Stack: "go", Why: "go.mod + package main at the root", Deps: "go-cache"}) {
		t.Errorf("Built = %+v", res.Built)
	}
	if !slicesContainsStep(res.Steps, "build") {
		t.Errorf("no build step in %+v", res.Steps)
	}
	for _, want := range []string{"build: go detected (go.mod + package main at the root): go build -o hello .", "$P/.cache/go"} {
		want = strings.ReplaceAll(want, "$P", s.env.Path)
		if !strings.Contains(s.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, s.out)
		}
	}
	if _, err := os.Stat(filepath.Join(s.env.Path, ".cache", "go", "build")); err != nil {
		t.Errorf("go's build cache is not under the app's path: %v", err)
	}
}

// TestBuildAutoFailureSwitchesNothing: a failing build script is a build
// failure like a failing pre-deploy: the deploy fails in step build,
// naming the stack and the command, and current stays where it was.
func TestBuildAutoFailureSwitchesNothing(t *testing.T) {
	o, s := autoServer(t, nodeApp("app", "node -e \"require('fs').writeFileSync('built.txt', 'ok')\""))
	s.deploy()
	first := s.current()
	if b, err := os.ReadFile(filepath.Join(s.env.Path, "current", "built.txt")); err != nil || string(b) != "ok" {
		t.Fatalf("the build script did not run: %q %v\n%s", b, err, s.out)
	}
	o.commit(nodeApp("app", "echo 'webpack: 3 errors' >&2; exit 3"))
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "build" || !strings.Contains(se.Message, "node: 'npm run build' exited with status 3") {
		t.Fatalf("error %v, want a build failure naming npm run build\n%s", err, s.out)
	}
	if !strings.Contains(strings.Join(se.Output, "\n"), "webpack: 3 errors") {
		t.Errorf("the error lacks the build's output: %q", se.Output)
	}
	if s.current() != first {
		t.Errorf("current moved to %s after a failed build", s.current())
	}
}

// TestBuildAutoNothingOrPreDeploy: with no stack the output says so and
// the deploy goes on; an explicit pre-deploy wins over detection.
func TestBuildAutoNothingOrPreDeploy(t *testing.T) {
	o, s := autoServer(t, nil)
	res := s.deploy()
	if !strings.Contains(s.out.String(), "build auto: no stack detected") || len(res.Built) != 1 || res.Built[0].Stack != "none" {
		t.Errorf("no-stack output:\n%s", s.out)
	}
	o.commit(nodeApp("app", "exit 9"))
	s.env.PreDeploy = "echo custom build > pre.txt"
	s.out = &syncbuf.Buffer{}
	res = s.deploy()
	if !strings.Contains(s.out.String(), "an explicit pre-deploy wins") || res.Built != nil {
		t.Errorf("pre-deploy did not win:\n%s", s.out)
	}
	if _, err := os.Stat(filepath.Join(s.env.Path, "current", "pre.txt")); err != nil {
		t.Errorf("pre-deploy did not run: %v", err)
	}
}

// TestBuildAutoCachePruned: node_modules is linked into the cache (as
// root into an immutable entry); an unchanged lockfile reuses the entry;
// a changed one makes a new entry, and once no kept release uses the old
// entry, prune removes it with the releases.
func TestBuildAutoCachePruned(t *testing.T) {
	o, s := autoServer(t, nodeApp("one", ""))
	s.env.Keep = 1
	res := s.deploy()
	if len(res.Built) != 1 || res.Built[0].Deps != "installed" || res.Built[0].Method != "link" {
		t.Fatalf("cold deploy: Built = %+v\n%s", res.Built, s.out)
	}
	entries := func() []string {
		ents, _ := filepath.Glob(filepath.Join(s.env.Path, ".cache", "deps", "node-*"))
		return ents
	}
	old := entries()
	if len(old) != 1 {
		t.Fatalf("cache entries after the first deploy: %v", old)
	}
	o.commit(map[string]string{"app.txt": "same lockfile\n"})
	s.out = &syncbuf.Buffer{}
	res = s.deploy()
	if b := res.Built; len(b) != 1 || b[0].Deps != "reused" || b[0].Key != filepath.Base(old[0]) {
		t.Fatalf("warm deploy did not reuse %s:\n%s", old[0], s.out)
	}
	o.commit(nodeApp("two", ""))
	s.out = &syncbuf.Buffer{}
	res = s.deploy()
	if b := res.Built; len(b) != 1 || b[0].Deps != "installed" || b[0].Key == filepath.Base(old[0]) {
		t.Errorf("a changed lockfile did not install afresh: %+v", b)
	}
	if now := entries(); len(now) != 1 || now[0] == old[0] {
		t.Errorf("cache entries after the lockfile changed and keep 1: %v (old %v)", now, old)
	}
}

func slicesContainsStep(steps []Step, name string) bool {
	for _, st := range steps {
		if st.Name == name {
			return true
		}
	}
	return false
}

// TestBuildAutoNodeLifecycleScripts: the app's own install scripts run in
// npm ci and can read any file, not only the lockfile. A prepare script
// (husky install, a compile into dist/) runs again in a release whose
// node_modules came from the cache, as npm ci would have run it; with a
// postinstall (prisma generate, patch-package) node_modules is installed
// fresh every deploy and not cached, and the output says why and how to
// get the cache back. Each script here writes what it read from the
// release, so a skipped or stale run shows.
func TestBuildAutoNodeLifecycleScripts(t *testing.T) {
	needTool(t, "npm")
	app := func(script, input string) map[string]string {
		files := nodeApp("hooks", "")
		files["package.json"] = `{ "name": "hooks", "version": "1.0.0", "private": true, "scripts": { "` + script +
			`": "node -e \"require('fs').writeFileSync('` + script + `.out', require('fs').readFileSync('input.txt'))\"" } }` + "\n"
		files["input.txt"] = input
		return files
	}
	for _, tc := range []struct {
		script, warmDeps, says string
	}{
		{"prepare", "reused", "deps: package.json's prepare script, which npm's install runs:"},
		{"postinstall", "uncached", "deps: node_modules installed fresh and not cached: package.json's postinstall script runs in npm's install"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			o, s := autoServer(t, app(tc.script, "one\n"))
			res := s.deploy()
			out := filepath.Join(s.env.Path, "current", tc.script+".out")
			if data, err := os.ReadFile(out); err != nil || string(data) != "one\n" || len(res.Built) != 1 {
				t.Fatalf("first deploy: %s says %q (%v); Built %+v\n%s", tc.script, data, err, res.Built, s.out)
			}
			o.commit(map[string]string{"input.txt": "two\n"}) // the lockfile unchanged
			s.out = &syncbuf.Buffer{}
			res = s.deploy()
			if b := res.Built; len(b) != 1 || b[0].Deps != tc.warmDeps || !strings.Contains(s.out.String(), tc.says) {
				t.Errorf("second deploy: Built %+v, want deps %s and %q in\n%s", b, tc.warmDeps, tc.says, s.out)
			}
			if data, err := os.ReadFile(out); err != nil || string(data) != "two\n" {
				t.Errorf("second deploy: %s says %q (%v), want what the new release's input.txt holds", tc.script, data, err)
			}
		})
	}
}

// TestBuildAutoNodeConfigInKey: the package managers' config in the
// release (.npmrc: legacy-peer-deps, omit, a registry) and the env key's
// npm_config_* variables decide an install as the lockfile does: a
// change to either installs afresh, under another key; the same again
// reuses it.
func TestBuildAutoNodeConfigInKey(t *testing.T) {
	o, s := autoServer(t, nodeApp("conf", ""))
	keys := map[string]bool{}
	step := func(what, want string) {
		t.Helper()
		s.out = &syncbuf.Buffer{}
		res := s.deploy()
		b := res.Built
		if len(b) != 1 || b[0].Deps != want || (want == "installed") == keys[b[0].Key] {
			t.Fatalf("%s: Built %+v, want deps %s (keys so far %v)\n%s", what, b, want, keys, s.out)
		}
		keys[b[0].Key] = true
	}
	step("first deploy", "installed")
	o.commit(map[string]string{".npmrc": "legacy-peer-deps=true\n"})
	step("an .npmrc added", "installed")
	o.commit(map[string]string{"app.txt": "code\n"})
	step("the same .npmrc", "reused")
	s.env.Vars = map[string]string{"npm_config_omit": "optional"}
	o.commit(map[string]string{"app.txt": "more code\n"})
	step("npm_config_omit in the env key", "installed")
	s.env.Vars["OTHER"] = "x"
	o.commit(map[string]string{"app.txt": "still more\n"})
	step("another variable beside it", "reused")
}

// TestBuildAutoGoWithoutMain: go.mod with no main package at the root
// or in cmd/*/ (here in server/, and a generator at the root) fails the
// build when go is the only stack, saying what to do: a release without
// the binary would switch and then fail to start. Beside another stack
// (go.mod for tools in a Node app) it is said, and the deploy goes on.
func TestBuildAutoGoWithoutMain(t *testing.T) {
	goFiles := map[string]string{
		"go.mod":         "module example.com/shop\n\ngo 1.21\n",
		"gen.go":         "//go:build ignore\n\npackage main\n\nfunc main() {}\n",
		"shop.go":        "package shop\n",
		"server/main.go": "package main\n\nfunc main() {}\n",
	}
	o := newOrigin(t)
	o.commit(goFiles)
	s := newServer(t, o)
	s.env.Build = "auto"
	s.setup()
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "build" || !strings.Contains(se.Message, "go: go.mod, but no package main at the root or in cmd/*/") {
		t.Fatalf("err = %v, want a build failure saying there is no main package\n%s", err, s.out)
	}
	if s.current() != "" {
		t.Errorf("current is %s after the failed build", s.current())
	}

	needTool(t, "npm")
	files := nodeApp("shop", "")
	for k, v := range goFiles {
		files[k] = v
	}
	o.commit(files)
	s.out = &syncbuf.Buffer{}
	s.deploy()
	if !strings.Contains(s.out.String(), "build: go detected (go.mod), but there is no package main at the root or in cmd/*/: nothing to build") {
		t.Errorf("beside node, the deploy did not say that go has nothing to build:\n%s", s.out)
	}
}
