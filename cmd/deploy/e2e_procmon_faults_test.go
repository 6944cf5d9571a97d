package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
)

// TestKilledBetweenSwitchAndLogWithProcmon: the server's script SIGKILLed
// (the OOM killer, a power cut) after its switch and before its .deploys
// line, with the real procmon serving the app. Nothing restarted, so
// procmon still serves the release before; current points at the new
// one, which no line of .deploys names. status must say exactly that
// (SERVES: the old release, NOT current; BEHIND: not logged; a problem
// line saying what to run), and each way out it names must end with
// current, the last .deploys event and what procmon serves agreeing: a
// revert back to the last deploy, then a new deploy.
func TestKilledBetweenSwitchAndLogWithProcmon(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "cut")
	f, listen := newProcmonFixture(t, `pre-deploy if [ -e `+flag+` ]; then mv -- "$DEPLOY_PATH/.deploys" "$DEPLOY_PATH/.deploys.real" && mkfifo -- "$DEPLOY_PATH/.deploys"; fi`)
	served := f.current() // v2, deployed and gated
	log := filepath.Join(f.path, ".deploys")
	before, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}

	f.origin.commit() // v3
	writeFile(t, flag, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan cliResult, 1)
	go func() { done <- f.run(ctx, "production") }()
	deadline := time.Now().Add(60 * time.Second)
	for f.current() == served {
		if time.Now().After(deadline) {
			t.Fatal("the deploy never switched")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cut := f.current()
	// From the switch on, the script waits to open the FIFO for its line.
	lock, err := os.ReadFile(filepath.Join(f.path, ".deploy.lock"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(strings.TrimSpace(string(lock)), "\t")
	pid := 0
	if len(fields) > 1 {
		pid, _ = strconv.Atoi(fields[1])
	}
	if pid <= 0 {
		t.Fatalf("lock line %q names no pid", lock)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.code == 0 || !strings.Contains(r.stderr, "unknown") {
		t.Fatalf("the killed deploy: exit %d\n%s\n%s\nwant a failure saying its outcome is unknown", r.code, r.stdout, r.stderr)
	}
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(log+".real", log); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(log); string(after) != string(before) {
		t.Fatalf(".deploys changed by the killed deploy:\n%s\nwas:\n%s", after, before)
	}
	if got := answer(listen); got != "hello from v2" {
		t.Fatalf("procmon answers %q, want the release before (nothing restarted)", got)
	}
	if why := disagreement(f, listen); why == "" {
		t.Fatal("the server agrees with itself after the kill: the test did not cut the deploy where it meant to")
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	st := f.run(ctx2, "production", "status")
	row := ""
	for _, l := range strings.Split(st.stdout, "\n") {
		if strings.Contains(l, cut) {
			row = l
		}
	}
	if !strings.Contains(row, served+" (NOT current)") || !strings.Contains(row, "not logged") {
		t.Errorf("status row %q: want SERVES %s (NOT current) and BEHIND not logged\n%s", row, served, st.stdout)
	}
	if !strings.Contains(st.stdout+st.stderr, "deploy production revert") {
		t.Errorf("status does not say what to run:\n%s\n%s", st.stdout, st.stderr)
	}

	// The way back: revert goes to the last deploy, and procmon serves it.
	f.mustRun("production", "revert")
	waitAgree(t, f, listen, "revert after the cut")
	if f.current() != served || answer(listen) != "hello from v2" {
		t.Errorf("after the revert: current %s, procmon %q, want %s serving v2", f.current(), answer(listen), served)
	}
	// The way on: the next deploy ships, and procmon serves it.
	f.origin.commit() // v4
	f.mustRun("production")
	waitAgree(t, f, listen, "deploy after the cut")
	if answer(listen) != "hello from v4" {
		t.Errorf("after the next deploy procmon answers %q, want v4", answer(listen))
	}
}

// TestDeployOfAnAppThatIgnoresPORT: the real Python app changed to listen
// on a port of its own (port = "<fixed>" instead of $PORT, as an
// app.listen(3000) does), deployed under the real procmon with two
// workers: the gate fails, current is put back, the old release serves,
// and the deploy's error says where the app listens and that it must
// listen on $PORT, in procmon's verdict in the restart step's output (it
// said "exited with status 1 before it was ready": the second worker's
// "address already in use").
func TestDeployOfAnAppThatIgnoresPORT(t *testing.T) {
	f, listen := newProcmonFixture(t)
	before := f.current()
	app, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "python-hello", "app.py"))
	if err != nil {
		t.Fatal(err)
	}
	fixed := freeport.Addr(t)
	_, port, _ := strings.Cut(fixed, ":")
	const read = `port = os.environ.get("PORT") or "8080"`
	if !strings.Contains(string(app), read) {
		t.Fatalf("app.py no longer reads PORT with %s", read)
	}
	writeFile(t, filepath.Join(f.origin.dir, "app.py"), strings.Replace(string(app), read, `port = "`+port+`"`, 1))
	f.origin.commit() // v3
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.run(ctx, "production")
	if out := r.stdout + r.stderr; r.code == 0 || !strings.Contains(out, "it listens on "+fixed+", not on its PORT (") || !strings.Contains(out, "$PORT") || !strings.Contains(r.stderr, "gate") {
		t.Fatalf("an app that ignores PORT: exit %d, want the gate to fail saying where it listens:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// the error itself (its output lines): procmon's verdict on the failed
	// reload, not the rollback's "reload served"
	if !strings.Contains(r.stderr, "error:     reload abandoned: generation 2 failed") || strings.Contains(r.stderr, "error:     reload served") {
		t.Errorf("the error's lines are not the failed reload's verdict:\n%s", r.stderr)
	}
	t.Logf("the deploy's error:\n%s", r.stderr)
	if f.current() != before {
		t.Errorf("current = %s, want %s put back", f.current(), before)
	}
	waitAgree(t, f, listen, "the gate of an app that ignores PORT")
	if got := answer(listen); got != "hello from v2" {
		t.Errorf("after the failed gate the app answers %q, want v2", got)
	}
}
