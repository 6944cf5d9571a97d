package deploy

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func readEnvDump(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestHookEnvironment(t *testing.T) {
	o, s, first := deployed(t)
	sha := o.commit(nil)
	dump := filepath.Join(t.TempDir(), "env")
	marker := filepath.Join(t.TempDir(), "pwned")
	s.env.PreDeploy = "env -0 > '" + dump + "'; printf 'PWD=%s\\0' \"$PWD\" >> '" + dump + "'"
	s.env.Vars = map[string]string{
		"NODE_ENV": "production",
		"TRICKY":   "$(touch " + marker + ") `touch " + marker + "`; ' \" \n end",
	}
	res := s.deploy()
	env := readEnvDump(t, dump)
	rel := filepath.Join(s.env.Path, "releases", res.NewRelease)
	for k, want := range map[string]string{
		"DEPLOY_ENV":      "production",
		"DEPLOY_PATH":     s.env.Path,
		"DEPLOY_RELEASE":  rel,
		"DEPLOY_SHA":      sha,
		"DEPLOY_REF":      "main",
		"DEPLOY_PREVIOUS": filepath.Join(s.env.Path, "releases", first.NewRelease),
		"NODE_ENV":        "production",
		"TRICKY":          s.env.Vars["TRICKY"],
		"PWD":             rel,
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a variable's value was run as shell text")
	}
}

// TestLoginShell: with shell=login hooks see what the profile sets (the
// classic "npm: command not found").
func TestLoginShell(t *testing.T) {
	o, s, _ := deployed(t)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".bash_profile"), []byte("export FROM_PROFILE=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.conn.Env = []string{"HOME=" + home}
	out := filepath.Join(t.TempDir(), "out")
	s.env.PreDeploy = `echo "profile=${FROM_PROFILE:-no} $DEPLOY_ENV" >> '` + out + `'`
	o.commit(nil)
	s.deploy()
	s.env.Shell = "login"
	o.commit(nil)
	s.deploy()
	data, err := os.ReadFile(out)
	if err != nil || string(data) != "profile=no production\nprofile=yes production\n" {
		t.Fatalf("hook output = %q, %v", data, err)
	}
	s.env.Shell = "zsh"
	if _, err := Deploy(ctxFor(t), s.conn, s.env, s.opts()); err == nil || !strings.Contains(err.Error(), `shell "zsh" is not bash or login`) {
		t.Fatalf("bad shell: %v", err)
	}
}

func TestSharedLinks(t *testing.T) {
	o := newOrigin(t)
	o.commit(map[string]string{"app.txt": "v1\n", "public/uploads/seed.txt": "seed\n", "log/.keep": ""})
	s := newServer(t, o)
	s.env.Shared = []string{".env", "log/", "public/uploads"}
	s.setup()
	if err := os.WriteFile(filepath.Join(s.env.Path, "shared", ".env"), []byte("SECRET=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := s.deploy()
	o.commit(nil)
	second := s.deploy()
	for _, res := range []*Result{first, second} {
		rel := filepath.Join(s.env.Path, "releases", res.NewRelease)
		for _, p := range []string{".env", "log", "public/uploads"} {
			target, err := os.Readlink(filepath.Join(rel, p))
			if err != nil || target != filepath.Join(s.env.Path, "shared", p) {
				t.Errorf("%s/%s -> %q, %v", res.NewRelease, p, target, err)
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(s.env.Path, "current", ".env")); err != nil || string(data) != "SECRET=1\n" {
		t.Errorf("current/.env = %q, %v", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(s.env.Path, "current", "public/uploads/seed.txt")); err != nil || string(data) != "seed\n" {
		t.Errorf("seeded shared dir: %q, %v", data, err)
	}
	// Something written through one release is seen by the next.
	if err := os.WriteFile(filepath.Join(s.env.Path, "current", "log", "app.log"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.commit(nil)
	s.deploy()
	if _, err := os.Stat(filepath.Join(s.env.Path, "current", "log", "app.log")); err != nil {
		t.Errorf("shared log not carried over: %v", err)
	}
}

func TestPruneKeepsWhatRevertNeeds(t *testing.T) {
	o := newOrigin(t)
	s := newServer(t, o)
	s.env.Keep = 3
	o.commit(nil)
	s.setup()
	var ids []string
	for range 5 {
		o.commit(nil)
		ids = append(ids, s.deploy().NewRelease)
	}
	if got, want := sorted(s.releases()), sorted(ids[2:]); got != want {
		t.Fatalf("releases = %s, want the last 3: %s", got, want)
	}
	// revert 1 .. keep-1 work from the newest.
	s.revert(1)
	s.revert(1)
	if s.current() != ids[2] {
		t.Fatalf("current = %s, want %s", s.current(), ids[2])
	}
	_, err := Revert(ctxFor(t), s.conn, s.env, 1, s.opts())
	if err == nil || !strings.Contains(err.Error(), "release "+ids[1]+" was pruned (keep=3)") {
		t.Fatalf("revert past keep: %v", err)
	}
	// A deploy made while reverted keeps current's predecessors too.
	o.commit(nil)
	n := s.deploy().NewRelease
	if got := sorted(s.releases()); got != sorted([]string{ids[3], ids[4], n}) {
		t.Errorf("after deploy: releases = %s", got)
	}
	// Leftovers of a killed deploy are pruned like any other release.
	if err := os.Mkdir(filepath.Join(s.env.Path, "releases", "20000101T000000Z-dead000"), 0o755); err != nil {
		t.Fatal(err)
	}
	o.commit(nil)
	s.deploy()
	if got := s.releases(); len(got) != 3 || got[0] == "20000101T000000Z-dead000" {
		t.Errorf("releases = %v", got)
	}
}

func sorted(ids []string) string {
	c := append([]string(nil), ids...)
	sort.Strings(c)
	return strings.Join(c, " ")
}

// The env key's variables reach hooks but cannot change what the script
// runs, even when named like the script's own variables.
func TestEnvVarsCannotRewireTheScript(t *testing.T) {
	o, s, _ := deployed(t)
	sha := o.commit(nil)
	s.env.PreDeploy = `echo "HOOK-RAN sha=$DEPLOY_SHA mine=$SHA" > hook.out`
	s.env.Vars = map[string]string{"SHA": "abc", "REF": "x", "SETSID": "echo", "P": "/nowhere"}
	res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.env.Path, "releases", res.NewRelease, "hook.out"))
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	if want := "HOOK-RAN sha=" + sha + " mine=abc\n"; string(b) != want {
		t.Errorf("hook wrote %q, want %q", b, want)
	}
}
