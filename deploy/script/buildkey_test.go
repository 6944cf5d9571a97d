package script

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeInfo: build_node learns node's version with `node --version`
// and starts a node to read package.json only when its text can hold a
// "build" key, once per text: the answer is kept with the text, and a
// changed text is read again. A node that reads the JSON is the judge
// (a \u escape that spells build counts).
func TestNodeInfo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
			t.Fatal("node is not installed: run scripts/deps.sh test")
		}
		t.Skip("node is not installed")
	}
	version, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(version))
	dir := t.TempDir()
	rel := filepath.Join(dir, "releases", "r1")
	// build_out as build.sh has it, minus the hook environment, logging
	// how node was started.
	harness := `P=` + dir + ` BUILD_REL=` + rel + `
setting() { printf '%s\n' "$2"; }
build_out() { printf '%s\n' "$2" >>` + dir + `/calls; (cd -- "$BUILD_REL" && exec "$@") 2>/dev/null || true; }
info=''; node_info; printf '%s\n' "$info"`
	for i, tc := range []struct {
		name, pkg, call, info string
	}{
		{"no build word", `{"name": "a", "scripts": {"start": "node server.js"}}`, "--version", v},
		{"a build script", `{"name": "a", "scripts": {"build": "tsc"}}`, "-e", v + " build"},
		{"the same text again", `{"name": "a", "scripts": {"build": "tsc"}}`, "--version", v + " build"},
		{"build only in a value", `{"name": "a", "keywords": ["build"], "scripts": {"start": "x"}}`, "-e", v},
		{"that text again", `{"name": "a", "keywords": ["build"], "scripts": {"start": "x"}}`, "--version", v},
		{"an escaped key", `{"name": "a", "scripts": {"\u0062uild": "tsc"}}`, "-e", v + " build"},
		{"an empty build", `{"name": "a", "scripts": {"build": ""}}`, "-e", v},
		{"not JSON", `{"scripts": {"build": `, "-e", v},
	} {
		writeFiles(t, rel, map[string]string{"package.json": tc.pkg})
		_ = os.Remove(filepath.Join(dir, "calls"))
		out := runFuncs(t, dir, harness)
		calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
		if strings.TrimSpace(out) != tc.info || strings.TrimSpace(string(calls)) != tc.call {
			t.Errorf("%d %s: info %q, node started with %q; want %q, %q", i, tc.name, strings.TrimSpace(out), strings.TrimSpace(string(calls)), tc.info, tc.call)
		}
	}
}

// TestRubyKeyHasBundler: build_ruby's cache key holds ruby's version and
// platform and the version of the Bundler that ruby loads, as ruby and
// bundle themselves report them.
func TestRubyKeyHasBundler(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"ruby", "bundle"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
				t.Fatalf("%s is not installed: run scripts/deps.sh test", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	ruby, err := exec.Command("ruby", "-e", "print RUBY_VERSION, ' ', RUBY_PLATFORM").Output()
	if err != nil {
		t.Fatal(err)
	}
	bundler, err := exec.Command("bundle", "--version").Output() // "Bundler version 2.3.15"
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Gemfile": "source 'https://rubygems.org'\n", "Gemfile.lock": "GEMS\n"})
	out := runFuncs(t, dir, `P=$PWD BUILD_REL=$PWD
setting() { printf '%s\n' "$2"; }
build_says() { :; }
build_out() { (cd -- "$BUILD_REL" && exec "$@") 2>/dev/null || true; }
deps_cached() { printf '%s\n' "$4"; }
build_ruby | tail -n 1`)
	want := "ruby " + string(ruby) + " bundler " + strings.TrimPrefix(strings.TrimSpace(string(bundler)), "Bundler version ") + " without=development:test Gemfile="
	if !strings.HasPrefix(strings.TrimSpace(out), want) {
		t.Errorf("the key's runtime is %q, want it to start %q", strings.TrimSpace(out), want)
	}
}

// TestPythonLockfilesPipWouldIgnore: without requirements.txt, a lockfile
// of uv, pdm or pipenv fails the build, naming it and the command that
// exports it (pip install . would not read it, and would ship other
// versions), and poetry.lock goes to Poetry; with requirements.txt beside
// it, requirements.txt is installed.
func TestPythonLockfilesPipWouldIgnore(t *testing.T) {
	t.Parallel()
	harness := `P=$PWD BUILD_REL=$PWD
build_says() { echo "says: $*"; }
build_run() { echo "run: $*"; }
python_venv_install() { echo "pip install $*"; }
python_reqs() { PY_UNKEYED=''; PY_INCLUDES=(); }
build_out() { echo 3.11; }
deps_cached() { echo "cached: $3"; }
build_python`
	for _, tc := range []struct{ lock, want string }{
		{"poetry.lock", "cached: poetry.lock"}, // build_poetry, with pyproject.toml
		{"uv.lock", "fail: python: uv.lock pins this app's dependencies, but build auto installs with pip, which does not read it: commit a requirements.txt made from it (uv export --format requirements-txt --output-file requirements.txt), which build auto installs and caches, or build with pre-deploy; current is unchanged"},
		{"pdm.lock", "(pdm export -o requirements.txt)"},
		{"Pipfile.lock", "fail: python: Pipfile.lock pins"},
		{"Pipfile", "fail: python: Pipfile pins"},
		{"", "pip install ."},
	} {
		for _, reqs := range []bool{false, true} {
			dir := t.TempDir()
			files := map[string]string{"pyproject.toml": "[project]\nname = \"app\"\n"}
			if tc.lock != "" {
				files[tc.lock] = "# lock\n"
			}
			if reqs {
				files["requirements.txt"] = "flask==3.0.0\n"
			}
			writeFiles(t, dir, files)
			out, _ := bashFuncs(dir, harness) // fail's stub exits 1
			want := tc.want
			if reqs {
				want = "cached: requirements.txt"
			}
			if !strings.Contains(out, want) {
				t.Errorf("%q, requirements.txt %v: output\n%s\nwant %q", tc.lock, reqs, out, want)
			}
		}
	}
}
