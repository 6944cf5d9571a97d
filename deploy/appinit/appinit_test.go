package appinit_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/appinit"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/internal/testfs"
	"github.com/deploytool/deploy/procmon"
)

// TestDetect: each stack is told by the files build auto goes by, with
// the app's name and start command; several at once in build order.
func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string
		app     string
		stacks  []string
		why     string
		command []string
	}{
		{"node", map[string]string{"package.json": `{"name": "@me/My_Shop", "scripts": {"start": "node server.js"}}`, "package-lock.json": "{}"},
			"my-shop", []string{"node"}, "package.json + package-lock.json", []string{"node", "server.js"}},
		{"node npm start", map[string]string{"package.json": `{"name": "web", "scripts": {"start": "next start"}}`, "yarn.lock": ""},
			"web", []string{"node"}, "package.json + yarn.lock", []string{"npm", "start"}},
		{"go root", map[string]string{"go.mod": "module example.com/hello/v2\n", "main.go": "package main\n"},
			"hello", []string{"go"}, "go.mod", []string{"./hello"}},
		{"go cmd", map[string]string{"go.mod": "module example.com/svc\n", "cmd/api/main.go": "package main\n"},
			"svc", []string{"go"}, "go.mod", []string{"./bin/api"}},
		{"go daemon beside its CLI", map[string]string{"go.mod": "module github.com/me/wtf\n", "cmd/wtf/main.go": "package main\n",
			"cmd/wtf-storybook/main.go": "package main\n", "cmd/wtfd/main.go": "package main\n"},
			"wtf", []string{"go"}, "go.mod", []string{"./bin/wtfd"}},
		{"go server among tools", map[string]string{"go.mod": "module example.com/shop\n", "cmd/migrate/main.go": "package main\n",
			"cmd/server/main.go": "package main\n"},
			"shop", []string{"go"}, "go.mod", []string{"./bin/server"}},
		{"go generator at the root", map[string]string{"go.mod": "module example.com/shop\n", "shop.go": "package shop\n",
			"gen.go": "// Code generator: go run gen.go\n\n//go:build ignore\n\npackage main\n", "cmd/server/main.go": "package main\n"},
			"shop", []string{"go"}, "go.mod", []string{"./bin/server"}},
		{"go old-style ignore and a test main", map[string]string{"go.mod": "module example.com/lib\n", "lib.go": "package lib\n",
			"tools.go": "// +build ignore\n\npackage main\n", "main_test.go": "package main\n", "cmd/lib/main.go": "package main\n"},
			"lib", []string{"go"}, "go.mod", []string{"./bin/lib"}},
		{"python", map[string]string{"requirements.txt": "flask\n", "app.py": ""},
			"", []string{"python"}, "requirements.txt", []string{".venv/bin/python", "app.py"}},
		{"elixir", map[string]string{"mix.exs": "def project do [app: :shop_web, version: \"0.1.0\"] end"},
			"shop-web", []string{"elixir"}, "mix.exs", []string{"_build/prod/rel/shop_web/bin/shop_web", "start"}},
		{"node and go", map[string]string{"package.json": `{"name": "both", "main": "x.js"}`, "go.mod": "module both\n", "main.go": "package main\n"},
			"both", []string{"node", "go"}, "package.json", []string{"node", "x.js"}},
		{"nothing", map[string]string{"README": ""}, "", nil, "", nil},
		{"pipenv", map[string]string{"Pipfile": "[packages]\nflask = \"*\"\n", "Pipfile.lock": "{}"},
			"", []string{"python"}, "Pipfile", nil},
		{"node without a name", map[string]string{"package.json": `{"scripts": {"start": "node server.js"}}`},
			"", []string{"node"}, "package.json", []string{"node", "server.js"}},
		{"node Procfile", map[string]string{"package.json": `{"name": "demo", "scripts": {"start": "nodemon server.js", "prod": "node server.js"}}`,
			"Procfile": "release: npm run migrate\nweb: npm run prod\n"},
			"demo", []string{"node"}, "package.json", []string{"sh", "-c", "exec npm run prod"}},
		{"python Procfile", map[string]string{"requirements.txt": "gunicorn\n", "Procfile": "web:gunicorn app:app --bind 0.0.0.0:$PORT"},
			"", []string{"python"}, "requirements.txt", []string{"sh", "-c", `export PATH="$PWD/.venv/bin:$PATH"; exec gunicorn app:app --bind 0.0.0.0:$PORT`}},
		{"Procfile of two commands", map[string]string{"Gemfile": "", "config.ru": "", "Procfile": "web: bin/migrate && bundle exec puma\n"},
			"", []string{"ruby"}, "Gemfile", []string{"sh", "-c", "bin/migrate && bundle exec puma"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "repo")
			testfs.WriteFiles(t, dir, tt.files)
			a, err := appinit.Detect(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.app
			if want == "" {
				want = "repo"
			}
			if a.Name != want || !slices.Equal(a.Stacks, tt.stacks) || !slices.Equal(a.Command, tt.command) {
				t.Errorf("got %s %v %q, want %s %v %q", a.Name, a.Stacks, a.Command, want, tt.stacks, tt.command)
			}
			if len(tt.stacks) > 0 && a.Why[tt.stacks[0]] != tt.why {
				t.Errorf("why %q, want %q", a.Why[tt.stacks[0]], tt.why)
			}
		})
	}
}

// TestRenderedFilesLoad: what init writes is a deploy.conf that deploy
// reads (build auto, procmon as the gate) and a procmon.toml that procmon
// reads.
func TestRenderedFilesLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testfs.WriteFiles(t, dir, map[string]string{"package.json": `{"name": "shop", "scripts": {"start": "node server.js", "build": "x"}}`, "package-lock.json": "{}"})
	a, err := appinit.Detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := appinit.Settings{Host: "web1.example.com", Path: "/var/www/shop", Repo: "git@example.com:me/shop.git"}
	cfg, err := config.ParseINI(filepath.Join(dir, "deploy.conf"), []byte(appinit.DeployConf(a, s)))
	if err != nil {
		t.Fatal(err)
	}
	env, err := cfg.Env("production")
	if err != nil {
		t.Fatal(err)
	}
	if env.Build != "auto" || env.Procmon != "/etc/procmon/shop.toml" || env.Path != s.Path || env.Repo != s.Repo ||
		env.User != "deploy" || env.Vars["NODE_ENV"] != "production" {
		t.Errorf("deploy.conf reads as %+v", env)
	}
	// The app's user does not exist here (the server steps create it):
	// the rest must read as it is.
	text := appinit.ProcmonTOML(a, s.Path)
	users := "user = \"shop\"\ngroup = \"shop\"\n"
	if !strings.Contains(text, users) {
		t.Errorf("procmon.toml does not run the app as shop:\n%s", text)
	}
	pm, err := procmon.ParseConfig("shop.toml", []byte(strings.Replace(text, users, "", 1)))
	if err != nil {
		t.Fatalf("procmon.toml: %v\n%s", err, text)
	}
	if pm.Dir != "/var/www/shop/current" || len(pm.Command) != 2 || pm.Command[1] != "server.js" {
		t.Errorf("procmon dir %q", pm.Dir)
	}
	// the workers run in production, not only the build
	if pm.Env["NODE_ENV"] != "production" {
		t.Errorf("procmon env %v, want NODE_ENV=production for the workers", pm.Env)
	}
	// the heartbeat is offered, commented out (init cannot know a health
	// page), and reads as one once uncommented
	beat := regexp.MustCompile(`(?m)^# (\[heartbeat\]|interval|timeout|path)`).ReplaceAllString(text, "$1")
	if pm, err := procmon.ParseConfig("shop.toml", []byte(strings.Replace(beat, users, "", 1))); err != nil || pm.Heartbeat.Interval != 10*time.Second || pm.Heartbeat.Path != "/health" {
		t.Errorf("procmon.toml's heartbeat, uncommented: %+v, %v\n%s", pm, err, beat)
	}
	steps := appinit.ServerSteps(a, s)
	for _, want := range []string{"install -d -o deploy /var/www/shop", "cp procmon.toml /etc/procmon/shop.toml", "systemctl enable --now procmon@shop", "deploy production setup"} {
		if !strings.Contains(steps, want) {
			t.Errorf("server steps lack %q:\n%s", want, steps)
		}
	}
}

// TestServerStepsCopyAsTheyRead: the server steps' comments stand in one
// column whatever the app's name, and a path a shell would split is
// quoted, so that each line can be copied as it is.
func TestServerStepsCopyAsTheyRead(t *testing.T) {
	for _, name := range []string{"a", "a-much-longer-app-name"} {
		a := &appinit.App{Name: name, Stacks: []string{"node"}}
		steps := appinit.ServerSteps(a, appinit.Settings{Path: "/srv/my app"})
		col := -1
		for line := range strings.Lines(steps) {
			i := strings.Index(line, "  # ")
			if i < 0 || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if col >= 0 && i != col {
				t.Errorf("app %s: comment at column %d, the one above at %d:\n%s", name, i, col, steps)
				break
			}
			col = i
		}
		if col < 0 {
			t.Fatalf("app %s: no commented step:\n%s", name, steps)
		}
		if !strings.Contains(steps, "install -d -o deploy '/srv/my app'\n") {
			t.Errorf("app %s: the path is not one quoted word:\n%s", name, steps)
		}
	}
}

// TestProcfileReleaseBecomesReleaseCommand: a Procfile's release process
// (Heroku's release phase: migrations) is written as release-command,
// with build auto's venv on PATH for Python as its web process gets it,
// and deploy reads it back; without one there is none, and a Django or
// Rails app is offered its migration, commented out.
func TestProcfileReleaseBecomesReleaseCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"node", map[string]string{"package.json": `{"name": "demo"}`, "Procfile": "release: npm run migrate\nweb: node server.js\n"}, "npm run migrate"},
		{"python", map[string]string{"requirements.txt": "django\n", "Procfile": "web: gunicorn site.wsgi\nrelease:  python manage.py migrate --noinput \n"},
			`export PATH="$PWD/.venv/bin:$PATH"; python manage.py migrate --noinput`},
		{"no release", map[string]string{"package.json": `{"name": "demo"}`, "Procfile": "web: node server.js\n"}, ""},
		{"django", map[string]string{"requirements.txt": "django\n", "manage.py": ""}, ""},
		{"rails", map[string]string{"Gemfile": "", "Gemfile.lock": "", "bin/rails": ""}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			testfs.WriteFiles(t, dir, tt.files)
			a, err := appinit.Detect(dir)
			if err != nil {
				t.Fatal(err)
			}
			text := appinit.DeployConf(a, appinit.Settings{Host: "web1", Path: "/srv/demo", Repo: "git@example.com:me/demo.git"})
			cfg, err := config.ParseINI(filepath.Join(dir, "deploy.conf"), []byte(text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			env, err := cfg.Env("production")
			if err != nil {
				t.Fatal(err)
			}
			if a.Release != tt.want || env.ReleaseCommand != tt.want || env.Build != "auto" {
				t.Errorf("release %q, deploy.conf's release-command %q (build %s); want %q\n%s", a.Release, env.ReleaseCommand, env.Build, tt.want, text)
			}
			// Django's and Rails' migrations are offered, commented out
			offer := map[string]string{"django": "\n# release-command .venv/bin/python manage.py migrate --noinput\n", "rails": "\n# release-command bin/rails db:migrate\n"}[tt.name]
			if got := strings.Contains(text, "# release-command "); got != (offer != "") || !strings.Contains(text, offer) {
				t.Errorf("deploy.conf offers a migration: %v, want %q:\n%s", got, offer, text)
			}
		})
	}
}
