package unit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/golden"
)

// examplePath is the shipped template unit, which must be what Render
// produces for the template.
const examplePath = "../../examples/systemd/procmon@.service"

func render(t *testing.T, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, o); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var appOptions = Options{App: "vmblog", ConfigPath: "/etc/procmon/vmblog.toml", User: "www-data", Group: "www-data",
	StopTimeout: 45 * time.Second, ReadyTimeout: 2 * time.Minute}

func TestTemplateIsTheShippedExample(t *testing.T) {
	golden.AssertFile(t, examplePath, string(render(t, Options{})))
}

func TestAppUnit(t *testing.T) {
	got := render(t, appOptions)
	golden.AssertFile(t, "testdata/vmblog.service.golden", string(got))
	for _, want := range []string{
		"ExecStart=/usr/local/bin/procmon run -c /etc/procmon/vmblog.toml\n",
		"ExecReload=/usr/local/bin/procmon reload --wait --timeout 135s -c /etc/procmon/vmblog.toml\n",
		"TimeoutStartSec=150s\n", "TimeoutStopSec=75s\n", "KillMode=mixed\n", "Type=notify\n",
		"run as user www-data, group www-data", "usermod -aG www-data deploy",
	} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// procmon stays root and starts the workers as the user itself.
	if bytes.Contains(got, []byte("\nUser=")) || bytes.Contains(got, []byte("\nGroup=")) {
		t.Errorf("unit sets User= or Group=: procmon must stay root to start the workers as the config's user")
	}
	o := appOptions
	o.User, o.Group = "", ""
	if root := render(t, o); !bytes.Contains(root, []byte("# WARNING: /etc/procmon/vmblog.toml sets no user, so the workers of\n# vmblog run as root.")) {
		t.Errorf("a config without user renders no warning that the app runs as root:\n%s", root)
	}
	if appOptions.Name() != "procmon-vmblog.service" || (Options{}).Name() != "procmon@.service" {
		t.Error("unit names")
	}
}

func TestRenderRejectsBadOptions(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{App: "my app"}, "app name"},
		{Options{App: "a", ConfigPath: "app.toml"}, "must be absolute"},
		{Options{App: "a", Binary: "procmon"}, "must be absolute"},
		{Options{App: "a", ConfigPath: "/etc/a\n.toml"}, "line break"},
		{Options{App: "a", User: "bad user"}, "user"},
		{Options{App: "a", StopTimeout: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		err := Render(&bytes.Buffer{}, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Render(%+v) = %v, want error about %q", tt.o, err, tt.want)
		}
	}
}

func TestArgQuoting(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/etc/procmon/a.toml", "/etc/procmon/a.toml"},
		{"/srv/100%/a.toml", "/srv/100%%/a.toml"},
		{"/srv/$HOME/a.toml", "/srv/$$HOME/a.toml"},
		{"/srv/my app/a.toml", `"/srv/my app/a.toml"`},
		{`/srv/q"b\c/a.toml`, `"/srv/q\"b\\c/a.toml"`},
	}
	for _, tt := range tests {
		if got, err := arg("x", tt.in); err != nil || got != tt.want {
			t.Errorf("arg(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestSystemdAnalyzeVerify checks the rendered app unit and the shipped
// template with systemd's own parser. verify exits 0 even on unknown keys,
// so any output counts as a failure.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" { // make test: every tool is required
			t.Fatal("systemd-analyze not installed: scripts/deps.sh installs it (apt-get install systemd)")
		}
		t.Skip("systemd-analyze not installed (apt-get install systemd); unit files not verified")
	}
	bin, err := os.Executable() // verify wants ExecStart's binary to exist
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	o := appOptions
	o.Binary = bin
	units := map[string][]byte{
		"procmon-vmblog.service": render(t, o),
		"procmon@vmblog.service": bytes.ReplaceAll(example, []byte(DefaultBinary), []byte(bin)),
	}
	for name, data := range units {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, sa, "verify", path).CombinedOutput()
		cancel()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}
