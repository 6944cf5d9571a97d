package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/internal/syncbuf"
)

// The Ruby and Elixir tests build what rubygems.org and hex.pm would give
// (these machines reach neither): Ruby gets gems the test makes with `gem
// build` in the app's vendor/cache, where Bundler in deployment mode
// installs from with no network; Elixir gets a git dependency from a
// repository the test makes, which mix fetches with git alone. Debian's
// ruby, ruby-bundler and elixir packages are what scripts/deps.sh installs.

// deployResult deploys the fixture's env as `deploy production` does (the
// same config loading, dialling and deploy.Run), and returns the one
// host's Result, which the CLI does not print (Built), and its output.
func deployResult(t *testing.T, f *fixture) (*deploy.Result, string) {
	t.Helper()
	g := &globals{Config: f.conf}
	cfg, err := loadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cfg.Env("production")
	if err != nil {
		t.Fatal(err)
	}
	out := &syncbuf.Buffer{}
	c := &command{g: g, env: env, stdout: out, stderr: out, dial: newDialer(g, env, out)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results, err := deploy.Run(ctx, env, deploy.FleetOptions{Options: c.options(config.Host{}, out), Dial: c.dial.dial,
		Output: func(config.Host) io.Writer { return out }})
	if err != nil || len(results) != 1 || results[0].Result == nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	return results[0].Result, out.String()
}

// commitTree is commitFiles for paths in subdirectories.
func (o *originRepo) commitTree(files map[string]string) string {
	o.t.Helper()
	for name := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(o.dir, name)), 0o755); err != nil {
			o.t.Fatal(err)
		}
	}
	return o.commitFiles(files)
}

// wantBuilt fails the test unless res.Built is the one stack with deps.
func wantBuilt(t *testing.T, res *deploy.Result, stack, deps string) deploy.Built {
	t.Helper()
	if len(res.Built) != 1 || res.Built[0].Stack != stack || res.Built[0].Deps != deps {
		t.Fatalf("Built = %+v, want %s with deps %q", res.Built, stack, deps)
	}
	return res.Built[0]
}

// gemBuild makes name-version.gem with `gem build`, a gem whose one file
// defines the module name (capitalised) with VALUE = value, and returns
// its bytes: what rubygems.org would have served.
func gemBuild(t *testing.T, name, version, value string) string {
	t.Helper()
	dir := t.TempDir()
	mod := strings.ToUpper(name[:1]) + name[1:]
	writeFile(t, filepath.Join(dir, name+".gemspec"), `Gem::Specification.new do |s|
  s.name = "`+name+`"
  s.version = "`+version+`"
  s.summary = "a gem the deploy test builds"
  s.authors = ["deploy test"]
  s.license = "MIT"
  s.files = ["lib/`+name+`.rb"]
end
`)
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "lib", name+".rb"), "module "+mod+"\n  VALUE = "+value+"\nend\n")
	cmd := exec.Command("gem", "build", name+".gemspec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gem build %s: %v\n%s", name, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, name+"-"+version+".gem"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rubyGems are the gems the Ruby test's apps use, by file name: what
// rubygems.org would have served, built once per test.
func rubyGems(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"tinygem-1.0.0.gem": gemBuild(t, "tinygem", "1.0.0", "42"),
		"tinygem-1.1.0.gem": gemBuild(t, "tinygem", "1.1.0", "43"),
		"devgem-1.0.0.gem":  gemBuild(t, "devgem", "1.0.0", "7"),
	}
}

// rubyApp is an app whose Gemfile needs tinygem at version (in the
// default group) and devgem (in the development group), both locked and
// in vendor/cache, as `bundle cache` leaves them.
func rubyApp(gems map[string]string, bundler, version string) map[string]string {
	return map[string]string{
		"Gemfile": `source "https://rubygems.org"

gem "tinygem", "` + version + `"

group :development do
  gem "devgem", "1.0.0"
end
`,
		"Gemfile.lock": `GEM
  remote: https://rubygems.org/
  specs:
    devgem (1.0.0)
    tinygem (` + version + `)

PLATFORMS
  ruby

DEPENDENCIES
  devgem (= 1.0.0)
  tinygem (= ` + version + `)

BUNDLED WITH
   ` + bundler + `
`,
		"vendor/cache/tinygem-" + version + ".gem": gems["tinygem-"+version+".gem"],
		"vendor/cache/devgem-1.0.0.gem":            gems["devgem-1.0.0.gem"],
		"app.rb":                                   "require \"bundler/setup\"\nrequire \"tinygem\"\nputs \"tinygem #{Tinygem::VALUE}\"\n",
	}
}

// bundlerVersion is the local Bundler's version, for BUNDLED WITH (a
// lockfile naming another version makes Bundler 2.3 fetch that one).
func bundlerVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bundle", "--version").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) == 0 {
		t.Fatalf("bundle --version: %q, %v", out, err)
	}
	return f[len(f)-1]
}

// TestE2EBuildAutoRuby: a Ruby app with a Gemfile.lock and its gems in
// vendor/cache deploys with build auto through the real sshd, as a
// non-root deploy user, with no network: Bundler in deployment mode
// installs the default group into the release's vendor/bundle (not the
// development group, which Capistrano and Heroku leave out), and the app
// runs from the release with `bundle exec`. An unchanged Gemfile.lock
// reuses the cached bundle; a changed one installs afresh, and the old
// release keeps its own gems; so does a Gemfile that moves a gem out of
// the development group with Gemfile.lock unchanged (the lockfile does
// not record groups), rather than reuse a bundle that lacks the gem.
func TestE2EBuildAutoRuby(t *testing.T) {
	for _, tool := range []string{"ruby", "gem", "bundle"} {
		requireTool(t, tool)
	}
	bundler, gems := bundlerVersion(t), rubyGems(t)
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	f.origin.commitTree(rubyApp(gems, bundler, "1.0.0"))
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	r := f.mustRun("production")
	wantOut(t, r, "build: ruby detected (Gemfile + Gemfile.lock): bundle install in deployment mode (path vendor/bundle, without development:test)",
		"deps: no cached install for this Gemfile.lock", "vendor/bundle cached as "+f.path+"/.cache/deps/ruby-")
	first := filepath.Join(f.path, "releases", f.current())
	installed := func(rel, name string) []string {
		m, _ := filepath.Glob(filepath.Join(rel, "vendor", "bundle", "ruby", "*", "gems", name))
		return m
	}
	if len(installed(first, "tinygem-1.0.0")) != 1 {
		t.Errorf("tinygem 1.0.0 is not in the release's vendor/bundle")
	}
	if g := installed(first, "devgem-*"); len(g) != 0 {
		t.Errorf("the development group was installed: %v", g)
	}
	runs := func(what, want string) {
		t.Helper()
		if r := f.mustRun("production", "exec", "bundle exec ruby app.rb"); !strings.Contains(r.stdout, want) {
			t.Errorf("bundle exec in the release %s: %q, want %q", what, r.stdout, want)
		}
	}
	runs("first deployed", "tinygem 42")

	// Same Gemfile.lock: the bundle comes from the cache.
	f.origin.commit()
	res, out := deployResult(t, f)
	b := wantBuilt(t, res, "ruby", "reused")
	if !strings.Contains(out, "vendor/bundle reused from "+f.path+"/.cache/deps/ruby-") || b.Method != "hardlink" {
		t.Errorf("warm deploy: Built %+v\n%s", b, out)
	}
	runs("with the cached bundle", "tinygem 42")

	// A new tinygem in Gemfile.lock: installed afresh, in a new entry.
	f.origin.commitTree(rubyApp(gems, bundler, "1.1.0"))
	res, out = deployResult(t, f)
	if nb := wantBuilt(t, res, "ruby", "installed"); nb.Key == b.Key {
		t.Errorf("a changed Gemfile.lock kept the cache entry %s\n%s", b.Key, out)
	}
	runs("after Gemfile.lock changed", "tinygem 43")
	cmd := exec.Command("su", u.deployer.Name, "-c", "bundle exec ruby app.rb")
	cmd.Dir = first
	if o, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(o), "tinygem 42") {
		t.Errorf("the first release with its own bundle: %q, %v", o, err)
	}

	// devgem out of the development group, Gemfile.lock unchanged.
	app := rubyApp(gems, bundler, "1.1.0")
	f.origin.commitFiles(map[string]string{
		"Gemfile": strings.Replace(app["Gemfile"], "group :development do\n  gem \"devgem\", \"1.0.0\"\nend\n", "gem \"devgem\", \"1.0.0\"\n", 1),
		"app.rb":  "require \"bundler/setup\"\nrequire \"devgem\"\nputs \"devgem #{Devgem::VALUE}\"\n",
	})
	res, out = deployResult(t, f)
	if b := wantBuilt(t, res, "ruby", "installed"); b.Key == "" {
		t.Errorf("Built %+v\n%s", b, out)
	}
	runs("after devgem left the development group", "devgem 7")
}

// elixirApp is a mix project, app hello, whose Hello.hi/0 returns hi
// (Elixir code) and whose deps are deps (Elixir code, "" = none).
func elixirApp(deps, hi string) map[string]string {
	return map[string]string{
		"mix.exs": `defmodule Hello.MixProject do
  use Mix.Project

  def project do
    [app: :hello, version: "0.1.0", elixir: "~> 1.12", deps: [` + deps + `]]
  end

  def application, do: [extra_applications: [:logger]]
end
`,
		"lib/hello.ex": "defmodule Hello do\n  def hi, do: " + hi + "\nend\n",
		".gitignore":   "/_build/\n/deps/\n",
	}
}

// tinyDep makes, under dir (a temp dir of the test when ""), a git
// repository holding the mix project tiny (Tiny.value is 42), tagged
// v1.0.0, and returns its path: the dependency mix fetches with git, where
// a hex.pm package would need the network.
func tinyDep(t *testing.T, dir string) string {
	t.Helper()
	return gitDep(t, dir, "tiny", map[string]string{
		"mix.exs":     "defmodule Tiny.MixProject do\n  use Mix.Project\n  def project, do: [app: :tiny, version: \"1.0.0\", deps: []]\nend\n",
		"lib/tiny.ex": "defmodule Tiny do\n  def value, do: 42\nend\n",
	})
}

// gitDep makes, under dir (a temp dir of the test when ""), a git
// repository name holding files, tagged v1.0.0, and returns its path.
func gitDep(t *testing.T, dir, name string, files map[string]string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	o := &originRepo{t: t, dir: filepath.Join(dir, name)}
	o.git("init", "-q", "-b", "main", o.dir)
	o.commitTree(files)
	o.git("-C", o.dir, "tag", "v1.0.0")
	return o.dir
}

// commitTinyApp commits to f's origin the app hello depending on tiny (at
// path, tag v1.0.0), then the mix.lock that mix deps.get writes for it.
func commitTinyApp(t *testing.T, f *fixture, tiny string) {
	t.Helper()
	commitMixApp(t, f, `{:tiny, git: "`+tiny+`", tag: "v1.0.0"}`, `"hello #{Tiny.value()}"`)
}

// commitMixApp commits to f's origin the app hello with deps (Elixir
// code) whose Hello.hi is hi, then the mix.lock that mix deps.get writes
// for it.
func commitMixApp(t *testing.T, f *fixture, deps, hi string) {
	t.Helper()
	f.origin.commitTree(elixirApp(deps, hi))
	cmd := exec.Command("mix", "deps.get")
	cmd.Dir = f.origin.dir
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mix deps.get in the app: %v\n%s", err, o)
	}
	f.origin.commit() // with mix.lock
}

// releaseEval runs the current release's bin/hello eval expr.
func releaseEval(t *testing.T, f *fixture, expr string) string {
	t.Helper()
	bin := filepath.Join(f.path, "current", "_build", "prod", "rel", "hello", "bin", "hello")
	out, err := exec.Command(bin, "eval", expr).CombinedOutput()
	if err != nil {
		t.Fatalf("%s eval: %v\n%s", bin, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestE2EBuildAutoElixir: a mix project deploys with build auto through
// the real sshd, with no network: with no dependencies (and so no
// mix.lock) mix release alone runs, MIX_ENV=prod, and the release's
// binary runs; with a dependency (a git one the test makes) and its
// mix.lock, mix deps.get fetches it into deps, cached by mix.lock: the
// next deploy with the same mix.lock reuses it.
func TestE2EBuildAutoElixir(t *testing.T) {
	for _, tool := range []string{"elixir", "mix"} {
		requireTool(t, tool)
	}
	f := newFixture(t)
	f.origin.commitTree(elixirApp("", `"hello from elixir"`))
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	res, out := deployResult(t, f)
	if b := wantBuilt(t, res, "elixir", ""); b.Why != "mix.exs" {
		t.Errorf("Built = %+v", b)
	}
	for _, want := range []string{"build: elixir detected (mix.exs): mix release (MIX_ENV=prod; no mix.lock: no dependencies to fetch)",
		"$ mix release --overwrite", "release: _build/prod/rel/hello (bin/hello start)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "$ mix deps.get") {
		t.Errorf("mix deps.get ran with no dependencies:\n%s", out)
	}
	if got := releaseEval(t, f, "IO.puts(Hello.hi())"); got != "hello from elixir" {
		t.Errorf("the release says %q", got)
	}

	commitTinyApp(t, f, tinyDep(t, ""))
	res, out = deployResult(t, f)
	first := wantBuilt(t, res, "elixir", "installed")
	if first.Why != "mix.exs + mix.lock" || first.Method != "copy" || !strings.Contains(out, "$ mix deps.get --only prod") || !strings.Contains(out, "deps cached as "+f.path+"/.cache/deps/elixir-") {
		t.Errorf("deploy with a dependency:\n%s", out)
	}
	// mix compiles the dependency, and build auto keeps it beside the
	// deps entry.
	built := f.path + "/.cache/deps/" + first.Key + "/build-prod"
	if !strings.Contains(out, "==> tiny") || !strings.Contains(out, "deps: _build/prod/lib's compiled dependencies cached in "+built) {
		t.Errorf("the dependency was not compiled, or not kept:\n%s", out)
	}
	if got := releaseEval(t, f, "IO.puts(Hello.hi())"); got != "hello 42" {
		t.Errorf("the release with its dependency says %q", got)
	}

	f.origin.commit()
	res, out = deployResult(t, f)
	if b := wantBuilt(t, res, "elixir", "reused"); b.Key != first.Key || strings.Contains(out, "$ mix deps.get") {
		t.Errorf("same mix.lock: Built %+v (first %+v)\n%s", b, first, out)
	}
	// The compiled dependency comes with it: mix compiles only the app.
	if strings.Contains(out, "==> tiny") || !strings.Contains(out, "deps: _build/prod/lib's compiled dependencies reused from "+built) {
		t.Errorf("same mix.lock: the dependency was compiled again:\n%s", out)
	}
	if got := releaseEval(t, f, "IO.puts(Hello.hi())"); got != "hello 42" {
		t.Errorf("the warm release says %q", got)
	}
}

// TestE2EBuildAutoElixirInstallsHex: a mix.lock with a hex.pm package
// needs Hex, which a distribution's mix lacks: build auto runs mix
// local.hex --force --if-missing before deps.get, as Heroku's buildpack
// does. These machines cannot reach hex.pm, so the install fails here:
// the deploy fails in step build naming that command and mix's reason,
// and current stays on the previous release.
func TestE2EBuildAutoElixirInstallsHex(t *testing.T) {
	for _, tool := range []string{"elixir", "mix"} {
		requireTool(t, tool)
	}
	f := newFixture(t)
	t.Setenv("MIX_HOME", t.TempDir()) // no Hex from the machine's ~/.mix
	f.origin.commitTree(elixirApp("", `"hello from elixir"`))
	f.writeINI("build auto", "env MIX_HOME="+os.Getenv("MIX_HOME"))
	f.mustRun("production", "setup")
	f.mustRun("production")
	good := f.current()
	app := elixirApp(`{:jason, "~> 1.4"}`, `"hello"`)
	app["mix.lock"] = `%{
  "jason": {:hex, :jason, "1.4.1", "af1504e35f629ddcdd6addb3513c3853991f694921b1b9368b0bd32beb9f1b63", [:mix], [], "hexpm", "fbb01ecdfd565b56261302f7e1fcc27c4fb8f32d56eab74db621fc154604a7a1"},
}
`
	f.origin.commitTree(app)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.run(ctx, "production")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "$ mix local.hex --force --if-missing") ||
		!strings.Contains(r.stderr, "build: elixir: 'mix local.hex --force --if-missing' exited with status 1: current is unchanged") ||
		!strings.Contains(r.stdout+r.stderr, "Could not install Hex") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if f.current() != good {
		t.Errorf("current moved to %s after a failed build", f.current())
	}
}

// TestE2EBuildAutoElixirRebar3: a dependency that builds with rebar3 (an
// Erlang git dependency with rebar.config and no mix.exs), on a server
// whose mix has no rebar3 of its own (MIX_HOME empty) but which has
// Debian's rebar3 in PATH. mix never looks in PATH and would ask on a
// terminal; build auto passes the server's rebar3 as MIX_REBAR3 and says
// so. The release runs the Erlang module, and the next deploy with the
// same mix.lock reuses the dependency compiled by rebar3.
func TestE2EBuildAutoElixirRebar3(t *testing.T) {
	for _, tool := range []string{"elixir", "mix"} {
		requireTool(t, tool)
	}
	rebar := requireTool(t, "rebar3")
	t.Setenv("MIX_HOME", t.TempDir()) // no rebar3 (or Hex) of mix's own
	f := newFixture(t)
	dep := gitDep(t, "", "tinyerl", map[string]string{
		"rebar.config":        "{erl_opts, [debug_info]}.\n{deps, []}.\n",
		"src/tinyerl.app.src": "{application, tinyerl, [{description, \"tiny\"}, {vsn, \"1.0.0\"}, {registered, []}, {applications, [kernel, stdlib]}, {env, []}]}.\n",
		"src/tinyerl.erl":     "-module(tinyerl).\n-export([value/0]).\nvalue() -> 42.\n",
	})
	commitMixApp(t, f, `{:tinyerl, git: "`+dep+`", tag: "v1.0.0"}`, `"hello #{:tinyerl.value()}"`)
	f.writeINI("build auto", "env MIX_HOME="+os.Getenv("MIX_HOME"))
	f.mustRun("production", "setup")
	says := "build: elixir: deps/tinyerl (rebar.config, no mix.exs) builds with rebar3, and mix has none of its own: using this server's " + rebar + " (MIX_REBAR3"
	res, out := deployResult(t, f)
	first := wantBuilt(t, res, "elixir", "installed")
	if !strings.Contains(out, says) || !strings.Contains(out, "===> Compiling tinyerl") {
		t.Errorf("first deploy: want %q and rebar3 compiling tinyerl:\n%s", says, out)
	}
	if got := releaseEval(t, f, "IO.puts(Hello.hi())"); got != "hello 42" {
		t.Errorf("the release says %q", got)
	}
	f.origin.commit()
	res, out = deployResult(t, f)
	if b := wantBuilt(t, res, "elixir", "reused"); b.Key != first.Key || !strings.Contains(out, says) || strings.Contains(out, "===> Compiling tinyerl") {
		t.Errorf("same mix.lock: Built %+v (first %+v), want the compiled tinyerl reused:\n%s", b, first, out)
	}
	if got := releaseEval(t, f, "IO.puts(Hello.hi())"); got != "hello 42" {
		t.Errorf("the warm release says %q", got)
	}
}

// TestE2EBuildAutoElixirNonRoot: as a deploy user that is not root, the
// cached deps reach the next release as hard links to files made
// read-only (the same inodes in both releases, writing into one refused
// for the deploy user), and mix release builds from them: mix only reads
// a dependency's files, and the compiled ones come from beside the entry
// as copies.
func TestE2EBuildAutoElixirNonRoot(t *testing.T) {
	for _, tool := range []string{"elixir", "mix"} {
		requireTool(t, tool)
	}
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	// tiny where the deploy user can read it, and trusted (root owns it)
	gitconfig := filepath.Join(u.deployer.Home, ".gitconfig")
	writeFile(t, gitconfig, "[safe]\n\tdirectory = *\n")
	chown(t, gitconfig, u.deployer)
	commitTinyApp(t, f, tinyDep(t, u.shared))
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	res, out := deployResult(t, f)
	first := wantBuilt(t, res, "elixir", "installed")
	if first.Method != "hardlink" {
		t.Errorf("first deploy as %s: Built %+v\n%s", u.deployer.Name, first, out)
	}
	oldRel := filepath.Join(f.path, "releases", f.current())

	f.origin.commit()
	res, out = deployResult(t, f)
	if b := wantBuilt(t, res, "elixir", "reused"); b.Key != first.Key || b.Method != "hardlink" || strings.Contains(out, "==> tiny") {
		t.Errorf("same mix.lock as %s: Built %+v (first %+v)\n%s", u.deployer.Name, b, first, out)
	}
	newRel := filepath.Join(f.path, "releases", f.current())
	if got := releaseEval(t, f, "IO.puts(Hello.hi())"); got != "hello 42" {
		t.Errorf("the warm release says %q", got)
	}
	src := filepath.Join("deps", "tiny", "lib", "tiny.ex")
	var oldSt, newSt syscall.Stat_t
	if syscall.Stat(filepath.Join(oldRel, src), &oldSt) != nil || syscall.Stat(filepath.Join(newRel, src), &newSt) != nil {
		t.Fatalf("cannot stat %s in both releases", src)
	}
	if oldSt.Ino != newSt.Ino || newSt.Mode&0o222 != 0 {
		t.Errorf("%s: inodes %d/%d, mode %o: want one read-only file shared by both releases", src, oldSt.Ino, newSt.Ino, newSt.Mode)
	}
	w := exec.Command("su", u.deployer.Name, "-c", "echo hacked >> "+filepath.Join(newRel, src))
	if o, err := w.CombinedOutput(); err == nil {
		t.Errorf("the deploy user wrote into the cached %s: %s", src, o)
	}
	if data, _ := os.ReadFile(filepath.Join(oldRel, src)); strings.Contains(string(data), "hacked") {
		t.Errorf("the first release's %s changed", src)
	}
}
