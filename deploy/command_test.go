package deploy

import (
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
	"github.com/deploytool/deploy/internal/golden"
)

// sampleEnv is a full env for the golden command lines.
func sampleEnv() *config.Env {
	return &config.Env{
		Name:        "production",
		Repo:        "git@github.com:acme/vmblog.git",
		Path:        "/var/www/vmblog",
		Ref:         "origin/master",
		PreDeploy:   "npm ci && npm run build",
		PostDeploy:  "./bin/deploy",
		PostSetup:   "echo it's set up",
		Test:        "curl -fsS http://127.0.0.1:8080/ >/dev/null",
		Vars:        map[string]string{"NODE_ENV": "production", "QUOTE": `it's "quoted" $(not run)`},
		Shared:      []string{".env", "log/"},
		Keep:        3,
		RestartFile: "tmp/restart.txt",
		Shell:       "login",
	}
}

// TestGoldenCommandLines pins the exact command lines sent to the server.
// Refresh with UPDATE_GOLDEN=1 go test ./deploy -run Golden.
func TestGoldenCommandLines(t *testing.T) {
	env := sampleEnv()
	opts := Options{Who: "alice@laptop", Wait: true}
	deploy, err := deployArgs(env, opts)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := setupArgs(env, opts)
	if err != nil {
		t.Fatal(err)
	}
	revert, err := revertArgs(env, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := execArgs(env, []string{"rake", "db:migrate"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		sub  string
		args []string
	}{
		"deploy": {"deploy", deploy},
		"setup":  {"setup", setup},
		"revert": {"revert", revert},
		"exec":   {"exec", exec},
	} {
		line, err := script.Command("<mark>", c.sub, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		// the bootstrap names the server's copy of the script by its sha256
		line = strings.ReplaceAll(line, script.Hash(script.Script()), "<script-sha256>")
		golden.Assert(t, "command_"+name, line+"\n")
	}
}
