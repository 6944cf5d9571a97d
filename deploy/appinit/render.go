package appinit

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/deploytool/deploy/deploy/script"
)

// Settings are what Detect cannot know: where the app goes.
type Settings struct {
	// Host is the server, [user@]name[:port] or an ssh_config alias.
	Host string
	// Path is the app's directory on the server.
	Path string
	// Repo is the git URL the server fetches (the clone's origin).
	Repo string
	// Env is the environment's name ("" = production).
	Env string
}

// ProcmonPath is where the server's procmon config for app goes.
func ProcmonPath(app *App) string { return "/etc/procmon/" + app.Name + ".toml" }

// DeployConf returns the deploy.conf for app and s.
func DeployConf(app *App, s Settings) string {
	env := s.Env
	if env == "" {
		env = "production"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# deploy.conf, written by `deploy init`: %s.\n", app.Detected())
	b.WriteString("# Every key, with its default: deploy.conf.example in the deploy repository.\n\n")
	fmt.Fprintf(&b, "[%s]\n", env)
	if !strings.Contains(s.Host, "@") {
		b.WriteString("user deploy\n")
	}
	fmt.Fprintf(&b, "host %s\nrepo %s\npath %s\n", s.Host, s.Repo, s.Path)
	b.WriteString("\n# The build, on the server in the new release before the switch: detect the\n")
	b.WriteString("# stack, install its dependencies (reused while the lockfile is unchanged),\n")
	b.WriteString("# build. A failing step switches nothing.\nbuild auto\n")
	for _, st := range app.Stacks {
		switch st {
		case "node":
			b.WriteString("env NODE_ENV=production\n")
		case "elixir":
			b.WriteString("env MIX_ENV=prod\n")
		}
	}
	if app.Release != "" {
		b.WriteString("\n# The Procfile's release process, as Heroku's release phase: once per deploy\n")
		b.WriteString("# (on the first host), after the build and before the switch. A failure\n")
		b.WriteString("# switches nothing.\n")
		fmt.Fprintf(&b, "release-command %s\n", app.Release)
	}
	if app.Migrate != "" {
		b.WriteString("\n# Migrations, once per deploy (on the first host), after the build and before\n")
		b.WriteString("# the switch, as Heroku's release phase; a failure switches nothing:\n")
		fmt.Fprintf(&b, "# release-command %s\n", app.Migrate)
	}
	b.WriteString("\n# The health gate: procmon reloads into the new release and waits until its\n")
	b.WriteString("# workers are ready; a release that never gets ready is rolled back.\n")
	fmt.Fprintf(&b, "procmon %s\n", ProcmonPath(app))
	b.WriteString("# And, once the app answers 2xx there, poll a page through procmon's listen:\n")
	b.WriteString("# healthcheck /health\n\n")
	b.WriteString("# Kept across releases, in <path>/shared.\nshared log/\nkeep 5\n")
	return b.String()
}

// Detected says what Detect found and why ("detected node (package.json),
// go (go.mod)" or "no stack detected"), as the files' first lines and
// `deploy init` say it.
func (app *App) Detected() string {
	if len(app.Stacks) == 0 {
		return "no stack detected"
	}
	var parts []string
	for _, st := range app.Stacks {
		parts = append(parts, st+" ("+app.Why[st]+")")
	}
	return "detected " + strings.Join(parts, ", ")
}

// ProcmonTOML returns the procmon config for app deployed at path.
func ProcmonTOML(app *App, path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# procmon config for %s, written by `deploy init`: %s.\n", app.Name, app.Detected())
	fmt.Fprintf(&b, "# Install it on the server as %s.\n\n", ProcmonPath(app))
	fmt.Fprintf(&b, "name = %s\n", strconv.Quote(app.Name))
	fmt.Fprintf(&b, "dir = %s\n", strconv.Quote(strings.TrimSuffix(path, "/")+"/current"))
	if app.Command == nil {
		b.WriteString("# deploy init could not tell how the app starts: put its command here.\n")
		b.WriteString("command = [\"./start\"]\n")
	} else {
		q := make([]string, len(app.Command))
		for i, w := range app.Command {
			q[i] = strconv.Quote(w)
		}
		fmt.Fprintf(&b, "command = [%s]\n", strings.Join(q, ", "))
	}
	b.WriteString("workers = 2\n")
	b.WriteString("# The public address procmon owns; each worker gets a private PORT (read it)\n")
	b.WriteString("# and procmon proxies to the ready ones, so a reload drops no request.\n")
	b.WriteString("listen = \"127.0.0.1:8080\"\nmode = \"proxy\"\n")
	fmt.Fprintf(&b, "user = %s\ngroup = %s\n", strconv.Quote(app.Name), strconv.Quote(app.Name))
	if env := runEnv(app); env != "" {
		b.WriteString("# What the stack reads to run in production (deploy.conf's env reaches the build only).\n")
		fmt.Fprintf(&b, "env = { %s }\n", env)
	}
	b.WriteString("\n[ready]\n# A worker is ready once its PORT accepts connections; with a health page,\n")
	b.WriteString("# check = \"http\" and path = \"/health\" are stricter.\ncheck = \"tcp\"\ntimeout = \"60s\"\n")
	b.WriteString("\n# A worker that stops answering (a deadlock, a stuck event loop) keeps its\n")
	b.WriteString("# port open: only a heartbeat finds it and replaces it. Give path a page that\n")
	b.WriteString("# answers 2xx quickly without the database, then uncomment:\n")
	b.WriteString("# [heartbeat]\n# interval = \"10s\"\n# timeout = \"10s\"\n# path = \"/health\"\n")
	return b.String()
}

// runEnv is the procmon env table's body for the app's stacks: what
// their frameworks read to run in production (Express's NODE_ENV: in
// development it sends stack traces to clients; Rails' and Rack's), as
// the platforms (Heroku's buildpacks) set them. "" for none.
func runEnv(app *App) string {
	var kv []string
	for _, st := range app.Stacks {
		switch st {
		case "node":
			kv = append(kv, `NODE_ENV = "production"`)
		case "ruby":
			kv = append(kv, `RACK_ENV = "production"`, `RAILS_ENV = "production"`)
		case "elixir":
			kv = append(kv, `MIX_ENV = "prod"`)
		}
	}
	return strings.Join(kv, ", ")
}

// ServerSteps returns what to run on the server once, before `deploy
// <env> setup`, as README's first real deploy says.
func ServerSteps(app *App, s Settings) string {
	env := s.Env
	if env == "" {
		env = "production"
	}
	n := shellWord(app.Name)
	steps := [][2]string{ // a command and what it is for
		{"adduser --disabled-password deploy", "the user deploys run as"},
		{"useradd --system --user-group --shell /usr/sbin/nologin " + n, "the user the app runs as"},
		{"usermod -aG " + n + " deploy", "deploy may reload procmon"},
		{"install -d -o deploy " + shellWord(s.Path), ""},
		{"# put your public key in ~deploy/.ssh/authorized_keys; install the stack's tools (" + strings.Join(orNone(app.Stacks), ", ") + ")", ""},
		{"./install.sh --server", "procmon and its unit"},
		{"cp procmon.toml " + shellWord(ProcmonPath(app)), "from this repo"},
		{"systemctl enable --now procmon@" + n, ""},
	}
	width := 0
	for _, st := range steps {
		if st[1] != "" {
			width = max(width, len(st[0]))
		}
	}
	var b strings.Builder
	b.WriteString("On the server (once), as root:\n")
	for _, st := range steps {
		if st[1] == "" {
			fmt.Fprintf(&b, "  %s\n", st[0])
			continue
		}
		fmt.Fprintf(&b, "  %-*s  # %s\n", width, st[0], st[1])
	}
	fmt.Fprintf(&b, "Then, here:\n  deploy %[1]s setup\n  deploy %[1]s\n", shellWord(env))
	return b.String()
}

// shellWord is s as one shell word to copy: as it is when it holds only
// characters no shell treats specially, else single-quoted.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+,-") == "" {
		return s
	}
	return script.Quote(s)
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none detected"}
	}
	return s
}
