// Package appinit is `deploy init`: it looks at an app's repository on
// the laptop, tells which stack it is (the same signs the server's
// `build auto` goes by: package.json, go.mod, requirements.txt or
// pyproject.toml, Gemfile, mix.exs), and writes a deploy.conf and a
// procmon.toml that deploy and run it. It reads files only: no network,
// no server.
package appinit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// App is what Detect found in a repository.
type App struct {
	// Name is the app's name: package.json's name, go.mod's module, the
	// mix project's app, else the directory's name; lowercase letters,
	// digits and '-' only.
	Name string
	// Stacks are the stacks detected, in the order build auto builds them
	// (node, python, ruby, elixir, go); nil = none.
	Stacks []string
	// Why says, per stack, which files showed it.
	Why map[string]string
	// Command is the argv procmon starts a worker with, relative to the
	// release (nil = none could be told: Render writes a placeholder). A
	// Procfile's web process wins over what the stack suggests, as on
	// Heroku and Dokku: it is how the app says it runs in production
	// (a package.json's start script is often the development server).
	Command []string
	// Release is the Procfile's release process ("" = none): Render
	// writes it as release-command, which runs where Heroku runs its
	// release phase, after the build and before the switch.
	Release string
	// Migrate is the framework's migration command, when one is told by
	// its files (Django's manage.py, Rails' bin/rails) and the Procfile
	// has no release process: Render offers it as release-command,
	// commented out (Heroku does not migrate by itself either).
	Migrate string
}

// Detect reads the repository at dir.
func Detect(dir string) (*App, error) {
	a := &App{Why: map[string]string{}}
	has := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	if has("package.json") {
		a.add("node", "package.json"+firstOf(has, " + ", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"))
		if err := a.node(dir); err != nil {
			return nil, err
		}
	}
	if has("requirements.txt") || has("pyproject.toml") || has("Pipfile") {
		a.add("python", firstOf(has, "", "requirements.txt", "pyproject.toml", "Pipfile"))
		if a.Command == nil && has("app.py") {
			a.Command = []string{".venv/bin/python", "app.py"}
		}
	}
	if has("Gemfile") {
		a.add("ruby", "Gemfile")
		if a.Command == nil && has("config.ru") {
			a.Command = []string{"bundle", "exec", "puma"}
		}
	}
	if has("mix.exs") {
		a.add("elixir", "mix.exs")
		a.elixir(dir)
	}
	if has("go.mod") {
		a.add("go", "go.mod")
		a.golang(dir)
	}
	// build auto's venv, on PATH as Heroku's buildpack puts it
	venv := ""
	if a.Why["python"] != "" {
		venv = `export PATH="$PWD/.venv/bin:$PATH"; `
	}
	if web := procfileWeb(dir); web != "" {
		a.Command = []string{"sh", "-c", venv + web}
	}
	if rel := procfileProcess(dir, "release"); rel != "" {
		a.Release = venv + rel
	}
	switch {
	case a.Release != "":
	case a.Why["python"] != "" && has("manage.py"):
		a.Migrate = ".venv/bin/python manage.py migrate --noinput"
	case a.Why["ruby"] != "" && has("bin/rails"):
		a.Migrate = "bin/rails db:migrate"
	}
	if a.Name == "" {
		abs, _ := filepath.Abs(dir)
		a.Name = cleanName(filepath.Base(abs))
	}
	return a, nil
}

func (a *App) add(stack, why string) {
	a.Stacks = append(a.Stacks, stack)
	a.Why[stack] = why
}

// firstOf returns sep and the first of names that exists ("" = none).
func firstOf(has func(string) bool, sep string, names ...string) string {
	for _, n := range names {
		if has(n) {
			return sep + n
		}
	}
	return ""
}

// node reads package.json: the name, and the start command (its start
// script when there is one, else node <main>).
func (a *App) node(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return err
	}
	var pkg struct {
		Name    string            `json:"name"`
		Main    string            `json:"main"`
		Scripts map[string]string `json:"scripts"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return &DetectError{File: filepath.Join(dir, "package.json"), Err: err}
	}
	if pkg.Name != "" { // else the directory's name, as for a repository without one
		a.Name = cleanName(pkg.Name)
	}
	switch {
	case pkg.Scripts["start"] != "":
		a.Command = []string{"npm", "start"}
		if f := strings.Fields(pkg.Scripts["start"]); len(f) == 2 && f[0] == "node" {
			a.Command = f // node server.js: no npm process in between
		}
	case pkg.Main != "":
		a.Command = []string{"node", pkg.Main}
	}
	return nil
}

var mixApp = regexp.MustCompile(`app:\s*:([a-z_][a-z0-9_]*)`)

// elixir reads the mix project's app name; mix release puts its start
// script at _build/prod/rel/<app>/bin/<app>.
func (a *App) elixir(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "mix.exs"))
	m := mixApp.FindSubmatch(b)
	if m == nil {
		return
	}
	app := string(m[1])
	if a.Name == "" {
		a.Name = cleanName(app)
	}
	if a.Command == nil {
		a.Command = []string{"_build/prod/rel/" + app + "/bin/" + app, "start"}
	}
}

var (
	mainPkg    = regexp.MustCompile(`(?m)^package main(\s|$)`)
	anyPkg     = regexp.MustCompile(`(?m)^package\s`)
	ignoreLine = regexp.MustCompile(`(?m)^//(go:build|\s*\+build)\s(.*[^A-Za-z0-9_.])?ignore([^A-Za-z0-9_.]|$)`)
)

// golang names the binary as build auto does: <module's last element> for
// a main package at the root, else bin/<x> for the cmd/<x> serverCmd picks.
func (a *App) golang(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	var mod string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			mod = strings.Trim(f[1], `"`)
			break
		}
	}
	parts := strings.Split(mod, "/")
	name := parts[len(parts)-1]
	if regexp.MustCompile(`^v[0-9]+$`).MatchString(name) && len(parts) > 1 {
		name = parts[len(parts)-2]
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`).MatchString(name) {
		name = "app"
	}
	if a.Name == "" {
		a.Name = cleanName(name)
	}
	if a.Command != nil {
		return
	}
	if hasMain(dir) {
		a.Command = []string{"./" + name}
		return
	}
	cmds, _ := filepath.Glob(filepath.Join(dir, "cmd", "*"))
	var mains []string
	for _, c := range cmds {
		if hasMain(c) {
			mains = append(mains, filepath.Base(c))
		}
	}
	if m := serverCmd(mains, name); m != "" {
		a.Command = []string{"./bin/" + m}
	}
}

// serverCmd picks, of a repository's cmd/* main packages (sorted), the
// one that is likeliest the server procmon should run: <name>d (a daemon
// beside its CLI, as wtf and wtfd), then server, web, api, <name>, else
// the first. "" for none.
func serverCmd(mains []string, name string) string {
	for _, want := range []string{name + "d", "server", "web", "api", name} {
		for _, m := range mains {
			if m == want {
				return m
			}
		}
	}
	if len(mains) > 0 {
		return mains[0]
	}
	return ""
}

// hasMain tells whether dir holds a Go main package, as build auto's
// go_main does: a .go file, not a _test.go, whose package clause says
// main, and whose build constraints above it do not name the ignore tag
// (//go:build ignore: a generator run by go run, which go build leaves
// out).
func hasMain(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if loc := anyPkg.FindIndex(b); loc != nil && mainPkg.Match(b[loc[0]:]) && !ignoreLine.Match(b[:loc[0]]) {
			return true
		}
	}
	return false
}

// cleanName makes s a name for files, users and units: lowercase letters,
// digits and '-' ("@scope/My_App" → "my-app"); "app" when nothing is left.
func cleanName(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == '.':
			b.WriteRune('-')
		}
	}
	if n := strings.Trim(b.String(), "-"); n != "" {
		return n
	}
	return "app"
}

// DetectError is a file Detect could not read as what its name says.
type DetectError struct {
	// File is the file's path.
	File string
	// Err is why it could not be read.
	Err error
}

// Error names the file and says to fix it.
func (e *DetectError) Error() string {
	return e.File + ": " + e.Err.Error() + ": fix it, then run deploy init again"
}

// Unwrap returns the parse error.
func (e *DetectError) Unwrap() error { return e.Err }

// procfileWeb returns the command of the Procfile's web process ("" =
// no Procfile, or no web line), made to run under sh -c as Heroku and
// foreman run it ($PORT, which procmon gives each worker, expands
// there): exec'd when it is one simple command, so that procmon's signals
// reach the app rather than the shell.
func procfileWeb(dir string) string {
	cmd := procfileProcess(dir, "web")
	if cmd != "" && !strings.ContainsAny(cmd, ";&|()`\n") && !strings.HasPrefix(cmd, "exec ") {
		cmd = "exec " + cmd
	}
	return cmd
}

// procfileProcess returns the command of the Procfile's process name
// ("" = no Procfile, or no such line).
func procfileProcess(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, "Procfile"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		n, cmd, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(n) == name {
			return strings.TrimSpace(cmd)
		}
	}
	return ""
}
