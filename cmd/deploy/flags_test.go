package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/procmon/control"
)

// runOffline runs the CLI against a config whose host is never dialled.
func runOffline(t *testing.T, args ...string) cliResult {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "deploy.conf")
	writeFile(t, conf, "[production]\nhost 127.0.0.1\nport 1\nrepo /tmp/none\npath /srv/app\n")
	var out, errOut strings.Builder
	ctx := context.Background()
	err := run(ctx, append([]string{"deploy", "-c", conf}, args...), strings.NewReader(""), &out, &errOut)
	code := exitCode(ctx, err, &errOut)
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// Flags that mean nothing for a command are refused before anything
// connects: above all, --dry-run must never fall through to a command.
func TestFlagsRefusedWhereTheyDoNotApply(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"production", "setup", "--dry-run"}, "--dry-run does not apply to setup"},
		{[]string{"production", "revert", "--dry-run"}, "--dry-run does not apply to revert"},
		{[]string{"production", "status", "--dry-run"}, "--dry-run does not apply to status"},
		{[]string{"production", "list", "--json"}, "--json does not apply to list"},
		{[]string{"production", "--json", "--dry-run"}, "--json does not apply to a dry run"},
		{[]string{"production", "status", "-f"}, "-f/--follow does not apply to status"},
		{[]string{"production", "check", "--force"}, "--force does not apply to check"},
		{[]string{"production", "logs", "a.log", "b.log"}, "logs takes at most one file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runOffline(t, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "hint:") {
				t.Errorf("exit %d, stderr %q; want 2 and %q with a hint", r.code, r.stderr, tt.want)
			}
		})
	}
}

// Every command's --help ends with examples.
func TestCommandHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"", "setup", "revert", "list", "curr", "prev", "exec", "console", "config", "status", "logs", "check", "trust", "unlock"} {
		args := []string{"production", cmd, "--help"}
		if cmd == "" {
			args = []string{"--help"}
		}
		r := runOffline(t, args...)
		_, tail, ok := strings.Cut(r.stdout, "EXAMPLES:")
		if r.code != 0 || !ok || !strings.Contains(tail, "deploy production") {
			t.Errorf("%q --help: exit %d, no examples at the end:\n%s", cmd, r.code, r.stdout)
		}
	}
	// --help after an exec'd command belongs to that command: it is sent
	// (here to a port nothing listens on, so the dial fails).
	if r := runOffline(t, "production", "exec", "grep", "--help"); r.code != 1 || strings.Contains(r.stdout, "EXAMPLES") {
		t.Errorf("exec grep --help: exit %d, stdout %q; want the remote command tried", r.code, r.stdout)
	}
}

// deploy decodes procmon's `status --json` into its own structs (it never
// imports procmon): this pins that the two shapes agree.
func TestAppStatusDecodesProcmonStatus(t *testing.T) {
	st := control.Status{App: "vmblog", PID: 9, State: control.StateDegraded, Generation: 4,
		Workers: []control.Worker{
			{ID: "1", Generation: 4, PID: 10, State: "ready", Restarts: 1},
			{ID: "2", Generation: 4, State: "backoff", Restarts: 3},
		},
		Heartbeat:       control.Heartbeat{Enabled: true, LastOK: false, LastResult: "502", Failures: 2},
		Metrics:         &control.Metrics{Time: time.Now(), HostCPUPercent: 91, MemoryPercent: 20, DiskPercent: 30, Degraded: true, Reasons: []string{"cpu 91%"}},
		DegradedReasons: []string{"cpu 91%"},
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := deploy.DecodeAppStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &deploy.AppStatus{App: "vmblog", State: "degraded", Generation: 4,
		Workers: []deploy.AppWorker{
			{ID: "1", Generation: 4, PID: 10, State: "ready", Restarts: 1},
			{ID: "2", Generation: 4, State: "backoff", Restarts: 3},
		},
		Heartbeat:       deploy.AppHeartbeat{Enabled: true, LastResult: "502", Failures: 2},
		Metrics:         &deploy.AppMetrics{HostCPUPercent: 91, MemoryPercent: 20, DiskPercent: 30, Degraded: true, Reasons: []string{"cpu 91%"}},
		DegradedReasons: []string{"cpu 91%"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
	}
}

// A dry run that cannot reach a host still prints the plan, says the
// host is unknown, and exits non-zero: the deploy would fail there.
func TestDryRunUnreachableHost(t *testing.T) {
	r := runOffline(t, "production", "--dry-run")
	if r.code != 1 || !strings.Contains(r.stdout, "deployed:  unknown: ") || !strings.Contains(r.stdout, "remote command") ||
		!strings.Contains(r.stderr, "dry run: could not read 127.0.0.1") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// Two deploys parsing their flags at once in one process (as the
// end-to-end tests run them) share no state: under -race this failed
// while urfave/cli's package-level help and version flags were used.
// --version and --help still work with the app's own flags.
func TestRunsInParallelShareNoFlags(t *testing.T) {
	done := make(chan cliResult, 8)
	for range 8 {
		go func() { done <- runOffline(t, "production", "config", "path") }()
	}
	for range 8 {
		if r := <-done; r.code != 0 || strings.TrimSpace(r.stdout) != "/srv/app" {
			t.Fatalf("config path: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	}
	if r := runOffline(t, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "deploy version ") {
		t.Errorf("--version: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runOffline(t, "-h"); r.code != 0 || !strings.Contains(r.stdout, "USAGE:") {
		t.Errorf("-h: exit %d, stdout %q", r.code, r.stdout)
	}
}
