package config

import (
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Classic deploy.conf files write `path ~/app`: the login user's home on
// the server, kept as written for the remote script to expand.
func TestPathUnderServerHome(t *testing.T) {
	tests := []struct {
		value, want, err string
	}{
		{value: "~/app", want: "~/app"},
		{value: "~/apps/blog/", want: "~/apps/blog"},
		{value: "~", want: "~"},
		{value: "~/", want: "~"},
		{value: "/var/www/app", want: "/var/www/app"},
		{value: "~//app", err: `"~//app" is not clean; write it as "~/app"`},
		{value: "~/../etc", err: `"~/../etc" is not clean; write it as "~/etc"`},
		{value: "~bob/app", err: `"~bob/app": ~user is not supported; give the full path on the server, or ~/dir for the login user's home`},
		{value: "app", err: `"app" is not absolute`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			text := strings.Replace(baseINI, "path /srv/app", "path "+tt.value, 1)
			cfg, err := ParseINI("deploy.conf", []byte(text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), "deploy.conf:4: path: "+tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Envs["prod"].Path; got != tt.want {
				t.Errorf("Path %q, want %q", got, tt.want)
			}
			if err := CheckPath(cfg.Envs["prod"].Path); err != nil {
				t.Errorf("CheckPath refuses what the reader stored: %v", err)
			}
		})
	}
}

// A bad section stops only its own environment, as with the classic tool:
// `deploy prod` works with a broken [staging], `deploy staging` gets the
// file:line error.
func TestBrokenSectionOnlyStopsItsEnv(t *testing.T) {
	good := "[prod]\nhost web1\nrepo r\npath /srv/app\n"
	tests := []struct {
		name, staging, want string
	}{
		{"unknown key", "[staging]\nhost web2\nprot 22\nrepo r\npath /srv/s\n", `deploy.conf:7: prot: unknown key; did you mean "port"?`},
		{"bad value", "[staging]\nhost web2\nrepo r\npath srv\n", `deploy.conf:8: path: "srv" is not absolute`},
		{"missing key", "[staging]\nhost web2\nrepo r\n", `deploy.conf:5: path: missing in [staging]`},
		{"first error wins", "[staging]\nport x\nuser a@b\n", `deploy.conf:6: port: "x" is not a port`},
		{"not UTF-8", "[staging]\nhost web2\ntest \xff\nrepo r\npath /s\n", `deploy.conf:7: not valid UTF-8`},
	}
	for _, tt := range tests {
		for _, order := range []string{"good first", "broken first"} {
			t.Run(tt.name+"/"+order, func(t *testing.T) {
				text := good + tt.staging
				if order == "broken first" {
					text = tt.staging + good
				}
				cfg, err := ParseINI("deploy.conf", []byte(text))
				if err != nil {
					t.Fatalf("the file is refused as a whole: %v", err)
				}
				if e, err := cfg.Env("prod"); err != nil || e.Path != "/srv/app" {
					t.Errorf("prod: %+v, %v", e, err)
				}
				_, err = cfg.Env("staging")
				want := tt.want
				if order == "broken first" {
					want = shiftLine(t, want, -4)
				}
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("staging: error %v, want %q…", err, want)
				}
				if got := cfg.BrokenErrors(); len(got) != 1 || got[0] != cfg.Broken["staging"] {
					t.Errorf("BrokenErrors %v", got)
				}
				if strings.Join(cfg.Order, " ") != map[bool]string{true: "prod staging", false: "staging prod"}[order == "good first"] {
					t.Errorf("Order %q", cfg.Order)
				}
			})
		}
	}
}

// shiftLine moves the line number of a "deploy.conf:N:" message by d.
func shiftLine(t *testing.T, msg string, d int) string {
	t.Helper()
	rest, _ := strings.CutPrefix(msg, "deploy.conf:")
	num, after, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	if err != nil {
		t.Fatalf("no line in %q", msg)
	}
	return "deploy.conf:" + strconv.Itoa(n+d) + ":" + after
}

// With every section broken nothing can deploy: the file's first error.
func TestEveryEnvBroken(t *testing.T) {
	_, err := ParseINI("deploy.conf", []byte("[a]\nhost h\n[b]\nport 0\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "deploy.conf:1: repo: missing in [a]") {
		t.Errorf("error %v", err)
	}
	// duplicate sections and bad headers still stop the whole file
	_, err = ParseINI("deploy.conf", []byte(baseINI+"[prod]\n"))
	if err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate env: %v", err)
	}
}

// deploy.toml: a bad value stops only its table too.
func TestBrokenTOMLTable(t *testing.T) {
	text := baseTOML + "[staging]\nhost = \"h\"\nrepo = \"r\"\npath = \"rel\"\n"
	cfg, err := ParseTOML("deploy.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Env("prod"); err != nil {
		t.Errorf("prod: %v", err)
	}
	if _, err := cfg.Env("staging"); err == nil || !strings.HasPrefix(err.Error(), `deploy.toml:8: path: "rel" is not absolute`) {
		t.Errorf("staging: %v", err)
	}
}

// ssh-config is `ssh -F`: resolved like key, against the config's
// directory, ~ the home whose ~/.ssh the CLI reads.
func TestSSHConfigKey(t *testing.T) {
	home := t.TempDir()
	t.Setenv(SSHHomeEnv, home)
	dir, _ := filepath.Abs("testdata")
	for value, want := range map[string]string{
		"ssh/config":      filepath.Join(dir, "ssh/config"),
		"/etc/ssh/deploy": "/etc/ssh/deploy",
		"~/.ssh/work":     filepath.Join(home, ".ssh/work"),
	} {
		for _, form := range []struct {
			parse func(string, []byte) (*Config, error)
			file  string
			text  string
		}{
			{ParseINI, "testdata/deploy.conf", baseINI + "ssh-config " + value + "\n"},
			{ParseTOML, "testdata/deploy.toml", baseTOML + "ssh-config = \"" + value + "\"\n"},
		} {
			cfg, err := form.parse(form.file, []byte(form.text))
			if err != nil {
				t.Fatal(err)
			}
			e := cfg.Envs["prod"]
			if e.SSHConfig != want {
				t.Errorf("%s: SSHConfig %q, want %q", form.file, e.SSHConfig, want)
			}
			if v, ok := e.Lookup("ssh-config"); !ok || v != want {
				t.Errorf("Lookup ssh-config %q %v", v, ok)
			}
		}
	}
	_, err := ParseINI("deploy.conf", []byte(baseINI+"ssh-config ~bob/x\n"))
	if err == nil || !strings.Contains(err.Error(), "ssh-config: \"~bob/x\": ~user is not supported") {
		t.Errorf("~user: %v", err)
	}
}

// Without DEPLOY_SSH_HOME, ~ in key and ssh-config is the login user's
// home from the passwd entry, as `ssh -i ~/x` expands it (the classic tool
// passed key to ssh -i as written), not $HOME; a relative DEPLOY_SSH_HOME
// is an error that says what to set.
func TestLocalHomeIsPasswdHome(t *testing.T) {
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		t.Skipf("no passwd entry for this user: %v", err)
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv(SSHHomeEnv, "")
	cfg, err := ParseINI("deploy.conf", []byte(baseINI+"key ~/.ssh/id_x\nssh-config ~/.ssh/work\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Envs["prod"]
	if want := filepath.Join(u.HomeDir, ".ssh/id_x"); e.Key != want {
		t.Errorf("key %q, want %q", e.Key, want)
	}
	if want := filepath.Join(u.HomeDir, ".ssh/work"); e.SSHConfig != want {
		t.Errorf("ssh-config %q, want %q", e.SSHConfig, want)
	}

	t.Setenv(SSHHomeEnv, "rel/home")
	_, err = ParseINI("deploy.conf", []byte(baseINI+"key ~/.ssh/id_x\n"))
	if want := `DEPLOY_SSH_HOME="rel/home" is not an absolute path; set it to the full path`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("relative DEPLOY_SSH_HOME: %v, want %q", err, want)
	}
}
