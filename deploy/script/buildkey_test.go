package script

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/testfs"
)

// TestNodeInfo: build_node learns node's version with `node --version`
// and starts a node to read package.json only when its text can hold a
// "build" key or an install lifecycle script's (preinstall … prepare),
// once per text: the answer is kept with the text, and a changed text, or
// an answer an older deploy kept without the scripts, is read again. A node that reads the JSON is the judge
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
setting() { printf -v "$1" '%s' "$3"; }
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
		{"a prepare script", `{"name": "a", "scripts": {"prepare": "husky install"}}`, "-e", v + " hooks=prepare"},
		{"that text again", `{"name": "a", "scripts": {"prepare": "husky install"}}`, "--version", v + " hooks=prepare"},
		{"build and install scripts", `{"scripts": {"build": "tsc", "postinstall": "prisma generate", "prepare": "x", "install": ""}}`, "-e", v + " build hooks=postinstall,prepare"},
		{"install only in a value", `{"name": "a", "description": "npm install", "scripts": {}}`, "-e", v},
		{"an older deploy's answer", `{"name": "old", "scripts": {"build": "tsc", "postinstall": "x"}}`, "-e", v + " build hooks=postinstall"},
	} {
		if tc.name == "an older deploy's answer" { // kept without hooks, by the deploy before them
			testfs.WriteFiles(t, dir, map[string]string{".cache/deps/.node-scripts": "build\n" + tc.pkg})
		}
		testfs.WriteFiles(t, rel, map[string]string{"package.json": tc.pkg})
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
	testfs.WriteFiles(t, dir, map[string]string{"Gemfile": "source 'https://rubygems.org'\n", "Gemfile.lock": "GEMS\n"})
	out := runFuncs(t, dir, `P=$PWD BUILD_REL=$PWD
setting() { printf -v "$1" '%s' "$3"; }
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
			testfs.WriteFiles(t, dir, files)
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

// TestBuildOutHookShell: build_out runs a runtime straight from PATH, and
// through the hook shell only when that shell can change what runs: a
// BASH_ENV (from the env key) for bash -c to read, or shell login (bash
// -lc reads the profile). Each case's tool is only on the PATH that
// shell would give it.
func TestBuildOutHookShell(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testfs.WriteFiles(t, dir, map[string]string{
		"rel/x":              "",
		"envbin/tool":        "#!/bin/sh\necho from BASH_ENV\n",
		"profilebin/tool":    "#!/bin/sh\necho from the profile\n",
		"keybin/tool":        "#!/bin/sh\necho from the env key\n",
		"bash_env.sh":        "PATH=" + dir + "/envbin:$PATH\n",
		"home/.bash_profile": "PATH=" + dir + "/profilebin:$PATH\n",
	})
	for _, f := range []string{"envbin/tool", "profilebin/tool", "keybin/tool"} {
		if err := os.Chmod(filepath.Join(dir, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, setup, want string }{
		{"plain: not on PATH", `HOOK_ENV=(); SHELL_MODE=''`, ""},
		{"the env key's PATH", `HOOK_ENV=("PATH=` + dir + `/keybin:$PATH"); SHELL_MODE=''`, "from the env key"},
		{"BASH_ENV from the env key", `HOOK_ENV=("BASH_ENV=` + dir + `/bash_env.sh"); SHELL_MODE=''`, "from BASH_ENV"},
		{"shell login", `HOOK_ENV=(); SHELL_MODE=login`, "from the profile"},
	} {
		out := runFuncs(t, dir, `P=$PWD BUILD_REL=$PWD/rel HOME=$PWD/home
unset BASH_ENV
`+tc.setup+`
got=$(build_out tool)
printf '%s\n' "$got"`)
		if strings.TrimSpace(out) != tc.want {
			t.Errorf("%s: build_out tool printed %q, want %q", tc.name, strings.TrimSpace(out), tc.want)
		}
	}
}

// TestDepsKey: deps_key hashes the runtime, `uname -sm`, the other lines
// and the lockfile's bytes as sha256sum does (the key a cache entry was
// made under stays the same), a lockfile with a NUL byte whole, and an
// unreadable lockfile fails rather than naming an entry without it.
func TestDepsKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	uname, err := exec.Command("uname", "-sm").Output()
	if err != nil {
		t.Fatal(err)
	}
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	for _, tc := range []struct{ name, lock string }{
		{"json", "{\n  \"a\": 1\n}\n"},
		{"no final newline", "a: 1"},
		{"empty", ""},
		{"a NUL byte", "a\x00b\n"},
	} {
		testfs.WriteFiles(t, dir, map[string]string{"lock": tc.lock})
		out := runFuncs(t, dir, `deps_key k lock "node v20.1.0" "npm ci" "layout link"; printf '%s\n' "$k"`)
		want := sum("node v20.1.0\n" + string(uname) + "npm ci\nlayout link\n" + tc.lock)
		if strings.TrimSpace(out) != want {
			t.Errorf("%s: key %q, want %q", tc.name, strings.TrimSpace(out), want)
		}
	}
	out, err := bashFuncs(dir, `deps_key k missing.lock "node v20.1.0" "npm ci"; echo "key $k"`)
	if err == nil || !strings.Contains(out, "fail: cannot hash missing.lock") {
		t.Errorf("a missing lockfile: %v\n%s", err, out)
	}
}

// TestReflinkProbeOnce: cache_method probes for reflinks once per cache
// (one cp) and keeps the answer in .cache/deps/.reflink; a kept yes that
// a reflink then contradicts (the cache moved to another filesystem) is
// removed by cache_copy, which copies instead and says so, so the next
// deploy probes again. Run on this machine's temp dir, whichever answer
// its filesystem gives.
func TestReflinkProbeOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	harness := `P=$PWD
setting() { printf -v "$1" '%s' "$3"; }
cp() { echo "cp $*" >>calls; command cp "$@"; }
cache_method; echo "method $CACHE_METHOD"`
	want := "no"
	if err := exec.Command("cp", "--reflink=always", "--", "/proc/self/exe", filepath.Join(dir, "x")).Run(); err == nil {
		want = "yes"
	}
	_ = os.Remove(filepath.Join(dir, "x"))
	for round := 1; round <= 2; round++ {
		_ = os.Remove(filepath.Join(dir, "calls"))
		out := runFuncs(t, dir, harness)
		memo, _ := os.ReadFile(filepath.Join(dir, ".cache", "deps", ".reflink"))
		calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
		probes := strings.Count(string(calls), "--reflink=always")
		if strings.TrimSpace(string(memo)) != want || (round == 1) != (probes == 1) || probes > 1 {
			t.Errorf("round %d: .reflink %q (want %q), %d probes; %s", round, memo, want, probes, out)
		}
		if (want == "yes") != strings.Contains(out, "method reflink") {
			t.Errorf("round %d: %s with .reflink %s", round, strings.TrimSpace(out), want)
		}
	}
	if want == "yes" {
		return // a stale yes cannot be shown where reflinks work
	}
	testfs.WriteFiles(t, dir, map[string]string{".cache/deps/.reflink": "yes\n", "from/a": "a\n"})
	out := runFuncs(t, dir, harness+`
DEPS_METHOD=$CACHE_METHOD
cache_copy from to`)
	if !strings.Contains(out, "method reflink") || !strings.Contains(out, "deps: reflink failed between from and to: a plain copy instead") {
		t.Errorf("a kept yes on a filesystem without reflinks: %s", out)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "to", "a")); err != nil || string(data) != "a\n" {
		t.Errorf("the copy: %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".cache", "deps", ".reflink")); !os.IsNotExist(err) {
		t.Errorf("the contradicted .reflink is still there (%v): the next deploy would not probe again", err)
	}
}

// TestDepsConf: deps_conf adds to a cache key each named config file the
// release has, with its text, and the env key's variables under the named
// prefixes, and nothing at all when there are none (the key an entry was
// made under before stays the same).
func TestDepsConf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(vars string) string {
		return runFuncs(t, dir, `BUILD_REL=$PWD VARS=(`+vars+`)
deps_conf c .npmrc .yarnrc.yml .bundle/config -- npm_config_ BUNDLE_
printf '[%s]' "$c"`)
	}
	if out := run(`"OTHER=1" "NODE_ENV=production"`); out != "[]" {
		t.Errorf("no config: %q, want nothing", out)
	}
	testfs.WriteFiles(t, dir, map[string]string{".npmrc": "legacy-peer-deps=true\n", ".bundle/config": "---\nBUNDLE_BUILD__PG: \"--with-pg-config=/x\"\n"})
	want := "[\n.npmrc: legacy-peer-deps=true\n\n.bundle/config: ---\nBUNDLE_BUILD__PG: \"--with-pg-config=/x\"\n\nnpm_config_omit=dev\nBUNDLE_JOBS=4]"
	if out := run(`"npm_config_omit=dev" "OTHER=1" "BUNDLE_JOBS=4" "PNPM_X=1"`); out != want {
		t.Errorf("config: %q, want %q", out, want)
	}
}

// TestMixRebar: mix_rebar passes the server's rebar3 as MIX_REBAR3 when a
// dependency builds with rebar3 (a hex.pm package's :rebar3 in mix.lock,
// or a dependency with rebar.config and no mix.exs) and mix has none: not
// when MIX_REBAR3 is set or mix's own copy is in MIX_HOME, not for a
// dependency with a mix.exs, and mix local.rebar when PATH has none
// either.
func TestMixRebar(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testfs.WriteFiles(t, dir, map[string]string{
		"bin/rebar3":                        "#!/bin/sh\n",
		"mixhome/elixir/1-15-otp-25/rebar3": "",
	})
	if err := os.Chmod(filepath.Join(dir, "bin/rebar3"), 0o755); err != nil {
		t.Fatal(err)
	}
	// a PATH with bash (to look with) and no rebar3
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "nobin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bash, filepath.Join(dir, "nobin", "bash")); err != nil {
		t.Fatal(err)
	}
	withRebar := dir + "/bin:" + filepath.Dir(bash)
	hexRebar := `%{"cowlib": {:hex, :cowlib, "2.13.0", "db8f", [:make, :rebar3], [], "hexpm", "e1e1"}}` + "\n"
	hexMix := `%{"jason": {:hex, :jason, "1.4.1", "af15", [:mix], [], "hexpm", "fbb0"}}` + "\n"
	says := "build: elixir: %s builds with rebar3, and mix has none of its own: using this server's " + dir + "/bin/rebar3 (MIX_REBAR3"
	for _, tc := range []struct {
		name  string
		files map[string]string
		vars  string // VARS
		path  string // the env key's PATH
		want  string // in the output ("" = none); MIX_REBAR3 is set when it names rebar3
	}{
		{"hex.pm rebar3 package", map[string]string{"mix.lock": hexRebar}, ``, withRebar, fmt.Sprintf(says, "a hex.pm package built with rebar3 (mix.lock)")},
		{"git rebar3 dependency", map[string]string{"mix.lock": "%{}\n", "deps/tinyerl/rebar.config": "{deps, []}.\n"}, ``, withRebar, fmt.Sprintf(says, "deps/tinyerl (rebar.config, no mix.exs)")},
		{"rebar.lock only", map[string]string{"mix.lock": "%{}\n", "deps/e/rebar.lock": "[].\n"}, ``, withRebar, fmt.Sprintf(says, "deps/e (rebar.config, no mix.exs)")},
		{"mix dependency with a rebar.config", map[string]string{"mix.lock": hexMix, "deps/j/mix.exs": "", "deps/j/rebar.config": ""}, ``, withRebar, ""},
		{"MIX_REBAR3 set", map[string]string{"mix.lock": hexRebar}, `"MIX_REBAR3=/opt/rebar3"`, withRebar, ""},
		{"mix's own rebar3", map[string]string{"mix.lock": hexRebar}, `"MIX_HOME=` + dir + `/mixhome"`, withRebar, ""},
		{"none in PATH", map[string]string{"mix.lock": hexRebar}, ``, dir + "/nobin", "$ mix local.rebar --force --if-missing"},
	} {
		rel := filepath.Join(t.TempDir(), "rel")
		testfs.WriteFiles(t, rel, tc.files)
		out := runFuncs(t, dir, `setting() { local kv; for kv in ${VARS[@]+"${VARS[@]}"}; do [ "${kv%%=*}" = "$2" ] && { printf -v "$1" '%s' "${kv#*=}"; return; }; done; printf -v "$1" '%s' "$3"; }
build_run() { shift; echo "\$ $*"; [ "$2" != local.rebar ] || { mkdir -p "$HOME/.mix/elixir/1-15" && : >"$HOME/.mix/elixir/1-15/rebar3"; }; } # as mix local.rebar does
BUILD_REL=`+rel+` HOME=`+t.TempDir()+` SHELL_MODE='' VARS=(`+tc.vars+`) HOOK_ENV=("PATH=`+tc.path+`") BUILD_ENV=(MIX_ENV=prod)
unset MIX_REBAR3 BASH_ENV
mix_rebar
mix_rebar # a second call keeps the first one's choice
printf 'BUILD_ENV=%s\n' "${BUILD_ENV[*]}"`)
		env := "BUILD_ENV=MIX_ENV=prod"
		if strings.Contains(tc.want, "MIX_REBAR3") {
			env += " MIX_REBAR3=" + dir + "/bin/rebar3"
		}
		if tc.want != "" && strings.Count(out, tc.want) != 1 || tc.want == "" && strings.Contains(out, "rebar") || !strings.Contains(out, env+"\n") {
			t.Errorf("%s: mix_rebar printed\n%s\nwant %q once and %s", tc.name, out, tc.want, env)
		}
	}
}
