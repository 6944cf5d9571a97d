package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is the smallest valid environment, in both forms.
const (
	baseINI  = "[prod]\nhost web1\nrepo git@example.com:app.git\npath /srv/app\n"
	baseTOML = "[prod]\nhost = \"web1\"\nrepo = \"git@example.com:app.git\"\npath = \"/srv/app\"\n"
)

func TestParseINIGood(t *testing.T) {
	home := t.TempDir()
	t.Setenv(SSHHomeEnv, home)
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, e *Env)
	}{
		{"minimal", "", func(t *testing.T, e *Env) {
			want := &Env{Name: "prod", Hosts: []Host{{Name: "web1"}}, Repo: "git@example.com:app.git", Path: "/srv/app",
				Lines: map[string]int{"host": 2, "repo": 3, "path": 4}}
			if !reflect.DeepEqual(e, want) {
				t.Errorf("got %+v\nwant %+v", e, want)
			}
		}},
		{"bools", "forward-agent on\nneeds_tty 1\n", func(t *testing.T, e *Env) {
			if !e.ForwardAgent || !e.NeedsTTY {
				t.Errorf("ForwardAgent %v NeedsTTY %v, want both true", e.ForwardAgent, e.NeedsTTY)
			}
		}},
		{"bools off", "forward-agent NO\nneeds_tty false\n", func(t *testing.T, e *Env) {
			if e.ForwardAgent || e.NeedsTTY || e.Lines["forward-agent"] != 5 {
				t.Errorf("ForwardAgent %v NeedsTTY %v line %d", e.ForwardAgent, e.NeedsTTY, e.Lines["forward-agent"])
			}
		}},
		{"key relative to the config", "key keys/cactus\n", func(t *testing.T, e *Env) {
			want, _ := filepath.Abs("testdata/keys/cactus")
			if e.Key != want {
				t.Errorf("Key %q, want %q", e.Key, want)
			}
		}},
		{"key under home", "key ~/.ssh/id_ed25519\n", func(t *testing.T, e *Env) {
			if want := filepath.Join(home, ".ssh/id_ed25519"); e.Key != want {
				t.Errorf("Key %q, want %q", e.Key, want)
			}
		}},
		{"key absolute", "key /etc/deploy//key\n", func(t *testing.T, e *Env) {
			if e.Key != "/etc/deploy/key" {
				t.Errorf("Key %q", e.Key)
			}
		}},
		{"env values keep everything after =", "env A=1\nenv B=x = y # z\nenv EMPTY=\n", func(t *testing.T, e *Env) {
			want := map[string]string{"A": "1", "B": "x = y # z", "EMPTY": ""}
			if !reflect.DeepEqual(e.Vars, want) {
				t.Errorf("Vars %q, want %q", e.Vars, want)
			}
		}},
		{"shared cleaned", "shared .env log/\nshared ./public/uploads\n", func(t *testing.T, e *Env) {
			if want := []string{".env", "log", "public/uploads"}; !reflect.DeepEqual(e.Shared, want) {
				t.Errorf("Shared %q, want %q", e.Shared, want)
			}
		}},
		{"durations and counts", "connect-timeout 1m30s\nkeep 3\nparallel 20\nbatch 1\nport 2222\n", func(t *testing.T, e *Env) {
			if e.ConnectTimeout != 90*time.Second || e.Keep != 3 || e.Parallel != 20 || e.Batch != 1 || e.Port != 2222 {
				t.Errorf("got %v %d %d %d %d", e.ConnectTimeout, e.Keep, e.Parallel, e.Batch, e.Port)
			}
		}},
		{"healthcheck url", "healthcheck http://127.0.0.1:3000/up\n", func(t *testing.T, e *Env) {
			if e.Healthcheck != "http://127.0.0.1:3000/up" {
				t.Errorf("Healthcheck %q", e.Healthcheck)
			}
		}},
		{"tabs and comments", "\t# indented comment\nuser\tdeploy  \n\n", func(t *testing.T, e *Env) {
			if e.User != "deploy" || e.Lines["user"] != 6 {
				t.Errorf("User %q line %d", e.User, e.Lines["user"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseINI("testdata/deploy.conf", []byte(baseINI+tt.extra))
			if err != nil {
				t.Fatal(err)
			}
			e, err := cfg.Env("")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e)
		})
	}
}

func TestParseHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []Host
	}{
		{"hosts a.example.com deploy@b.example.com:2222 web3", []Host{{Name: "a.example.com"}, {User: "deploy", Name: "b.example.com", Port: 2222}, {Name: "web3"}}},
		{"hosts [::1]:2222 root@[fe80::1] ::1", []Host{{Name: "::1", Port: 2222}, {User: "root", Name: "fe80::1"}, {Name: "::1"}}},
		{"hosts 127.0.0.1:22\nhosts 127.0.0.1:23", []Host{{Name: "127.0.0.1", Port: 22}, {Name: "127.0.0.1", Port: 23}}},
		{"host deploy@web1:2200", []Host{{User: "deploy", Name: "web1", Port: 2200}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cfg, err := ParseINI("deploy.conf", []byte("[prod]\nrepo r\npath /p\n"+tt.in+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Envs["prod"].Hosts
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			for _, h := range got {
				back, err := parseHost(h.String())
				if err != nil || back != h {
					t.Errorf("%+v.String() = %q reads back as %+v, %v", h, h.String(), back, err)
				}
			}
		})
	}
}

// TestINITOMLTwins proves that an INI file and its TOML twin give equal
// environments, line numbers included.
func TestINITOMLTwins(t *testing.T) {
	t.Setenv(SSHHomeEnv, t.TempDir())
	for _, name := range []string{"full"} {
		ini, err := Load("testdata/config/" + name + ".conf")
		if err != nil {
			t.Fatal(err)
		}
		tml, err := Load("testdata/config/" + name + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ini.Order, tml.Order) {
			t.Fatalf("order: INI %q, TOML %q", ini.Order, tml.Order)
		}
		for _, env := range ini.Order {
			if !reflect.DeepEqual(ini.Envs[env], tml.Envs[env]) {
				t.Errorf("[%s]\nINI  %+v\nTOML %+v", env, ini.Envs[env], tml.Envs[env])
			}
		}
		prod := ini.Envs["production"]
		if len(prod.Hosts) != 3 || len(prod.Vars) != 2 || len(prod.Shared) != 3 || prod.Keep != 7 || !prod.ForwardAgent ||
			prod.ReleaseCommand != "./bin/migrate --yes" {
			t.Errorf("full.conf not read whole: %+v", prod)
		}
	}
}

// TestClassicConfig reads the classic bash deploy's example unchanged.
func TestClassicConfig(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/config/classic.conf")
	if err != nil {
		t.Fatal(err)
	}
	e, err := cfg.Env("stage")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := filepath.Abs("testdata/config/keys/cactus")
	want := &Env{Name: "stage", Hosts: []Host{{Name: "n.n.n.n"}}, User: "deployer", Key: key,
		Repo: "git@github.com:visionmedia/express.git", Path: "/home/deployer/stage", Ref: "origin/master",
		ForwardAgent: true, NeedsTTY: true, PostDeploy: "/home/deployer/stage/current/bin/post-deploy",
		Test: "sleep 1 && curl localhost:3000 >/dev/null"}
	e.Lines = nil
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got  %+v\nwant %+v", e, want)
	}
}

// TestWriteToReadsBack prints every env of full.conf and reads it back.
func TestWriteToReadsBack(t *testing.T) {
	t.Setenv(SSHHomeEnv, t.TempDir())
	cfg, err := Load("testdata/config/full.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cfg.Order {
		e := cfg.Envs[name]
		var buf bytes.Buffer
		if _, err := e.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := ParseINI("/elsewhere/deploy.conf", buf.Bytes())
		if err != nil {
			t.Fatalf("%v in:\n%s", err, buf.String())
		}
		got := back.Envs[name]
		// WriteTo fills in the defaults; the rest must read back equal.
		want := *e
		orDefault := func(n, def int) int {
			if n == 0 {
				return def
			}
			return n
		}
		want.Keep, want.Parallel = orDefault(e.Keep, DefaultKeep), orDefault(e.Parallel, DefaultParallel)
		if want.Shell == "" {
			want.Shell = "bash"
		}
		if want.ConnectTimeout == 0 {
			want.ConnectTimeout = DefaultConnectTimeout
		}
		got.Lines, want.Lines = nil, nil
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("[%s] read back\n got %+v\nwant %+v\nfrom:\n%s", name, got, &want, buf.String())
		}
	}
}

func TestWriteToGolden(t *testing.T) {
	t.Parallel()
	cfg, err := ParseINI("/home/me/app/deploy.conf", []byte(baseINI+"key keys/k\nenv B=2\nenv A=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	cfg.Envs["prod"].WriteTo(&buf)
	want := `[prod]
host web1
key /home/me/app/keys/k
forward-agent no
connect-timeout 10s
repo git@example.com:app.git
path /srv/app
shell bash
needs_tty no
env A=1
env B=2
build none
keep 5
parallel 10
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	cfg, err := ParseINI("deploy.conf", []byte(baseINI+"env B=2\nenv A=1\nkeep 9\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Envs["prod"]
	for key, want := range map[string]string{"host": "web1", "hosts": "web1", "keep": "9", "parallel": "10",
		"env": "A=1\nB=2", "ref": "", "forward-agent": "no", "path": "/srv/app"} {
		if got, ok := e.Lookup(key); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q, true", key, got, ok, want)
		}
	}
	if _, ok := e.Lookup("colour"); ok {
		t.Error("Lookup(colour) ok, want not a key")
	}
	for _, key := range Keys() {
		if _, ok := e.Lookup(key); !ok {
			t.Errorf("Lookup(%q) not ok for a config key", key)
		}
	}
}

func TestConfigEnv(t *testing.T) {
	t.Parallel()
	two, err := ParseINI("deploy.conf", []byte(baseINI+strings.Replace(baseINI, "[prod]", "[staging]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	one, err := ParseINI("deploy.conf", []byte(baseINI))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := one.Env(""); err != nil || e.Name != "prod" {
		t.Errorf("one.Env(\"\") = %v, %v", e, err)
	}
	if e, err := two.Env("staging"); err != nil || e.Name != "staging" {
		t.Errorf("two.Env(staging) = %v, %v", e, err)
	}
	for name, want := range map[string]string{
		"":    "deploy.conf has 2 environments (prod, staging); say which one, like: deploy prod",
		"dev": `no environment "dev" in deploy.conf; it has prod, staging`,
	} {
		if _, err := two.Env(name); err == nil || err.Error() != want {
			t.Errorf("Env(%q) error %v, want %q", name, err, want)
		}
	}
}

func TestFindAndLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Find(dir)
	if want := "no deploy.conf or deploy.toml in " + dir; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Find(empty) = %v, want %q…", err, want)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tomlPath := write("deploy.toml", baseTOML)
	if p, err := Find(dir); err != nil || p != tomlPath {
		t.Errorf("Find = %q, %v; want %q", p, err, tomlPath)
	}
	iniPath := write("deploy.conf", baseINI)
	if p, err := Find(dir); err != nil || p != iniPath {
		t.Errorf("Find = %q, %v; want %q (deploy.conf first)", p, err, iniPath)
	}
	// No telling extension: the content says which form it is.
	for name, text := range map[string]string{"sniff-ini": baseINI, "sniff-toml": baseTOML} {
		cfg, err := Load(write(name, text))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if e := cfg.Envs["prod"]; e == nil || e.Path != "/srv/app" || e.Hosts[0].Name != "web1" {
			t.Errorf("%s read as %+v", name, e)
		}
	}
	_, err = Load(filepath.Join(dir, "nope.conf"))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Load(missing) = %v", err)
	}
	var ce *Error
	if _, err := Load(write("bad.toml", baseTOML+"colour = 1\n")); !errors.As(err, &ce) || ce.Line != 5 || ce.Key != "colour" {
		t.Errorf("Load(bad.toml) = %v, want an Error at line 5, key colour", err)
	}
}
