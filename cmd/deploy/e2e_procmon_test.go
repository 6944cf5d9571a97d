package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
)

// repoRoot is the module's root directory.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildProcmon builds the real procmon binary for the "server".
func buildProcmon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "procmon")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/procmon")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build procmon: %v\n%s", err, out)
	}
	return bin
}

// answer GETs the app once and returns its body ("" on any failure).
func answer(addr string) string {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// The whole production path with the real procmon on the "server": the
// deploy's gate is `procmon reload --wait`, so when `deploy` returns the new
// version already serves; status shows procmon's view; logs shows the
// workers' lines; a release whose workers never get ready fails the gate,
// is put back, and the old version never stopped serving.
func TestDeployWithRealProcmon(t *testing.T) {
	f, pm := newPythonAppFixture(t) // v2: VERSION is what the app answers with

	dir := t.TempDir()
	listen, pmConf, logFile := freeport.Addr(t), filepath.Join(dir, "app.toml"), filepath.Join(dir, "app.log")
	writeFile(t, pmConf, fmt.Sprintf(`name = "e2e"
dir = %q
command = ["python3", "app.py"]
workers = 2
listen = %q
socket = %q
stop_timeout = "5s"
[ready]
check = "http"
path = "/health"
timeout = "15s"
min_uptime = "4s"
[log]
file = %q
max_size = "1MB"
`, filepath.Join(f.path, "current"), listen, filepath.Join(dir, "pm.sock"), logFile))
	f.writeINI("procmon "+pmConf, "env DEPLOY_PROCMON="+pm)
	f.mustRun("production", "setup")
	first := f.mustRun("production")
	if !strings.Contains(first.stderr, "procmon is not running") || !strings.Contains(first.stderr, "procmon run -c "+pmConf) ||
		!strings.Contains(first.stdout, "UNCHECKED") {
		t.Errorf("first deploy should report the release unchecked, say procmon is not running yet and how to start it:\n%s\n%s", first.stdout, first.stderr)
	}

	startProcmon(t, pm, pmConf)
	waitAnswer(t, listen, "hello from v2")

	f.origin.commit() // v3
	f.mustRun("production")
	if got := answer(listen); got != "hello from v3" {
		t.Fatalf("right after the deploy returned the app answers %q, want v3: the gate did not wait for the reload", got)
	}

	st := f.mustRun("production", "status", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(st.stdout), &rows); err != nil {
		var one map[string]any
		if err2 := json.Unmarshal([]byte(st.stdout), &one); err2 != nil {
			t.Fatalf("status --json is not JSON: %v\n%s", err, st.stdout)
		}
	}
	if !strings.Contains(st.stdout, `"ready"`) && !strings.Contains(st.stdout, `"degraded"`) {
		t.Errorf("status --json does not show procmon's app state:\n%s", st.stdout)
	}
	if table := f.mustRun("production", "status").stdout; !strings.Contains(table, "2/2") {
		t.Errorf("status table does not show 2/2 workers ready:\n%s", table)
	}
	if logs := f.mustRun("production", "logs", "-n", "40").stdout; !strings.Contains(logs, "python-hello v3 serving") {
		t.Errorf("logs lack the new workers' start lines:\n%s", logs)
	}

	// A release whose workers die at boot: the gate fails, current is put
	// back, and v3 keeps answering throughout.
	writeFile(t, filepath.Join(f.origin.dir, "app.py"), "raise SystemExit('broken build')\n")
	f.origin.commit()
	before := f.current()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.run(ctx, "production")
	if r.code == 0 || !strings.Contains(r.stderr, "gate") {
		t.Fatalf("a release that never gets ready: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if f.current() != before {
		t.Errorf("current = %s, want %s put back", f.current(), before)
	}
	if got := answer(listen); got != "hello from v3" {
		t.Errorf("after the failed gate the app answers %q, want v3 still", got)
	}

	// A release that passes procmon's ready check, takes over (it answers
	// v5), then crashes (an app that dies on a database it cannot reach;
	// here when the test writes crash-now into the release): within
	// min_uptime procmon sends traffic back to v3's workers, still
	// running, the gate fails and current is put back. The deploy never
	// says deployed, and v3 answers after it.
	app, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "python-hello", "app.py"))
	if err != nil {
		t.Fatal(err)
	}
	crashing := strings.Replace(string(app), "if __name__ == \"__main__\":", `def _crash_on_file():
    while not os.path.exists("crash-now"):
        time.sleep(0.05)
    os._exit(1)


threading.Thread(target=_crash_on_file, daemon=True).start()

if __name__ == "__main__":`, 1)
	writeFile(t, filepath.Join(f.origin.dir, "app.py"), crashing)
	f.origin.commit() // v5
	ran := make(chan cliResult, 1)
	go func() { ran <- f.run(ctx, "production") }()
	waitAnswer(t, listen, "hello from v5")
	writeFile(t, filepath.Join(f.path, "current", "crash-now"), "")
	r = <-ran
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "took over (ready.min_uptime 4s)") || !strings.Contains(r.stderr, "reverted to "+before) {
		t.Fatalf("a release that crashes after it took over: exit %d, want the gate to fail on its exit and revert:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if f.current() != before {
		t.Errorf("current = %s, want %s put back", f.current(), before)
	}
	if got := answer(listen); got != "hello from v3" {
		t.Errorf("after the unstable release the app answers %q, want v3", got)
	}
	if list := f.mustRun("production", "list").stdout; !strings.Contains(list, "failed") {
		t.Errorf("list does not show the unstable release failed:\n%s", list)
	}
	// deploy logs shows procmon's own account of it among the app's lines
	if logs := f.mustRun("production", "logs", "-n", "100").stdout; !strings.Contains(logs, `procmon | level=ERROR msg="reload failed; the old generation keeps serving"`) {
		t.Errorf("logs lack procmon's line on the abandoned reload:\n%s", logs)
	}
}

func waitAnswer(t *testing.T, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if got = answer(addr); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the app never answered %q (last %q)", want, got)
}

// newPythonAppFixture is a one-host fixture whose origin holds
// examples/python-hello (commit v2, whose VERSION the app answers with),
// and the procmon binary to serve it. make test requires python3.
func newPythonAppFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" { // make test: every tool is required
			t.Fatal("python3 is needed for the sample app: scripts/deps.sh installs it")
		}
		t.Skip("python3 is needed for the sample app")
	}
	pm := buildProcmon(t)
	f := newFixture(t)
	app, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "python-hello", "app.py"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.origin.dir, "app.py"), string(app))
	f.origin.commit()
	return f, pm
}
