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
