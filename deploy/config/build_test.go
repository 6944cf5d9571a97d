package config

import (
	"strings"
	"testing"
)

// TestBuildKey: `build` takes auto or none in both forms, none is the
// default (stored as ""), and anything else is an error naming the line.
func TestBuildKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ini, toml, want, err string
	}{
		{name: "unset", want: ""},
		{name: "auto", ini: "build auto\n", toml: "build = \"auto\"\n", want: "auto"},
		{name: "none", ini: "build none\n", toml: "build = \"none\"\n", want: ""},
		{name: "bad", ini: "build npm\n", toml: "build = \"npm\"\n", err: `:5: build: "npm" is not a build mode; write auto`},
		{name: "toml type", toml: "build = true\n", err: "build: wrong type; want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, form := range []struct {
				parse func(string, []byte) (*Config, error)
				text  string
				skip  bool
			}{
				{ParseINI, baseINI + tt.ini, tt.name == "toml type"},
				{ParseTOML, baseTOML + tt.toml, false},
			} {
				if form.skip {
					continue
				}
				cfg, err := form.parse("deploy.conf", []byte(form.text))
				if err == nil {
					_, err = cfg.Env("prod")
				}
				if tt.err != "" {
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Errorf("%q: error %v, want one containing %q", form.text, err, tt.err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%q: %v", form.text, err)
				}
				env, _ := cfg.Env("prod")
				if env.Build != tt.want {
					t.Errorf("%q: Build = %q, want %q", form.text, env.Build, tt.want)
				}
				if v, _ := env.Lookup("build"); v != map[string]string{"": "none", "auto": "auto"}[tt.want] {
					t.Errorf("%q: config build prints %q", form.text, v)
				}
			}
		})
	}
}

// TestShipKeys: source, build local, build-command and artifact, in both
// forms: what they store, and the combinations refused with the key and
// what to write.
func TestShipKeys(t *testing.T) {
	t.Parallel()
	noRepo := "[prod]\nhost h\npath /p\n"
	noRepoTOML := "[prod]\nhost = \"h\"\npath = \"/p\"\n"
	tests := []struct {
		name, ini, toml, err string
		check                func(*Env) bool
	}{
		{name: "push without repo", ini: noRepo + "source push\n", toml: noRepoTOML + "source = \"push\"\n",
			check: func(e *Env) bool { return e.Source == "push" && e.Repo == "" }},
		{name: "fetch is the default", ini: baseINI + "source fetch\n", toml: baseTOML + "source = \"fetch\"\n",
			check: func(e *Env) bool { return e.Source == "" }},
		{name: "fetch needs repo", ini: noRepo + "source fetch\n", toml: noRepoTOML + "source = \"fetch\"\n", err: "repo: missing in [prod]"},
		{name: "bad source", ini: baseINI + "source rsync\n", toml: baseTOML + "source = \"rsync\"\n", err: `source: "rsync" is not a source; write fetch`},
		{name: "build local", ini: noRepo + "build local\nbuild-command make\nartifact bin/app public/\n",
			toml: noRepoTOML + "build = \"local\"\nbuild-command = \"make\"\nartifact = [\"bin/app\", \"public/\"]\n",
			check: func(e *Env) bool {
				return e.Build == "local" && e.BuildCommand == "make" && strings.Join(e.Artifact, " ") == "bin/app public/"
			}},
		{name: "artifact default", ini: baseINI + "build local\nbuild-command make\n", toml: baseTOML + "build = \"local\"\nbuild-command = \"make\"\n",
			check: func(e *Env) bool { v, _ := e.Lookup("artifact"); return v == "dist/" && e.Artifact == nil }},
		{name: "local needs a command", ini: baseINI + "build local\n", toml: baseTOML + "build = \"local\"\n", err: "build-command: missing in [prod]"},
		{name: "command needs local", ini: baseINI + "build-command make\n", toml: baseTOML + "build-command = \"make\"\n", err: "build-command: is only used with build local"},
		{name: "artifact needs local", ini: baseINI + "artifact dist/\n", toml: baseTOML + "artifact = [\"dist/\"]\n", err: "artifact: is only used with build local"},
		{name: "artifact outside", ini: baseINI + "build local\nbuild-command make\nartifact ../x\n", toml: baseTOML + "build = \"local\"\nbuild-command = \"make\"\nartifact = [\"../x\"]\n", err: "is not inside the checkout"},
		{name: "push and local", ini: baseINI + "source push\nbuild local\nbuild-command make\n", toml: baseTOML + "source = \"push\"\nbuild = \"local\"\nbuild-command = \"make\"\n", err: "use one of them"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, form := range []struct {
				parse func(string, []byte) (*Config, error)
				text  string
			}{{ParseINI, tt.ini}, {ParseTOML, tt.toml}} {
				cfg, err := form.parse("deploy.conf", []byte(form.text))
				var env *Env
				if err == nil {
					env, err = cfg.Env("prod")
				}
				if tt.err != "" {
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Errorf("%q: error %v, want one containing %q", form.text, err, tt.err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%q: %v", form.text, err)
				}
				if !tt.check(env) {
					t.Errorf("%q: read as source %q build %q command %q artifact %q", form.text, env.Source, env.Build, env.BuildCommand, env.Artifact)
				}
			}
		})
	}
}
