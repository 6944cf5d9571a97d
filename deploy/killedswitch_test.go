package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKilledBetweenSwitchAndLog: the server's script SIGKILLed (the OOM
// killer, a power cut) after its switch and before its .deploys line,
// which nothing else leaves behind: current points at a release no line
// of .deploys names. The pre-deploy hook puts a FIFO where .deploys was,
// so that the script stops exactly there (opening it), and is killed
// there. Then status says so (it used to show the release as the newest
// deploy, 0 behind), and revert goes back to the last deploy, as
// Capistrano's rollback goes by the release directories (it used to
// refuse: "not a successful deploy"); the next deploy's prune removes the
// cut-off release first. A current that a `failed` line names is still
// refused.
func TestKilledBetweenSwitchAndLog(t *testing.T) {
	o, s, _ := deployed(t)
	s.env.Keep = 3
	o.commit(nil)
	second := s.deploy()
	sha := o.commit(nil)
	log := filepath.Join(s.env.Path, ".deploys")
	before, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	env := *s.env
	env.PreDeploy = "mv -- '" + log + "' '" + log + ".real' && mkfifo -- '" + log + "'"
	done := make(chan error, 1)
	go func() { _, err := Deploy(ctxFor(t), s.conn, &env, s.opts()); done <- err }()
	deadline := time.Now().Add(30 * time.Second)
	for s.current() == second.NewRelease {
		if time.Now().After(deadline) {
			t.Fatalf("the deploy never switched:\n%s", s.out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cut := s.current()
	// From the switch on, the script waits to open the FIFO for its line.
	pid, err := strconv.Atoi(strings.Split(s.lockLine(), "\t")[1])
	if err != nil {
		t.Fatalf("lock line %q: %v", s.lockLine(), err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, done); err == nil || !strings.Contains(err.Error(), "outcome is unknown") {
		t.Fatalf("the killed deploy: %v, want the outcome unknown", err)
	}
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(log+".real", log); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(log); string(after) != string(before) || s.current() != cut || !strings.HasSuffix(cut, sha[:7]) {
		t.Fatalf("after the kill: current %s (want the new release of %s), .deploys:\n%s\nwas:\n%s", cut, sha[:7], after, before)
	}

	st, err := Status(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil || !st.Unlogged || st.Current != cut || st.Lock != "free" {
		t.Fatalf("status: %+v, %v: want current %s unlogged, the lock free", st, err, cut)
	}
	// A deploy whose test hook fails goes back to it (a `revert` line
	// names it now): it is still no deploy, and still not refused.
	o.commit(nil)
	failing := *s.env
	failing.Test = "exit 3"
	if _, err := Deploy(ctxFor(t), s.conn, &failing, s.opts()); err == nil || s.current() != cut {
		t.Fatalf("a deploy whose test hook fails: %v, current %s, want it back on %s", err, s.current(), cut)
	}
	if st, err := Status(ctxFor(t), s.conn, s.env, s.opts()); err != nil || !st.Unlogged {
		t.Fatalf("status after a deploy went back to the cut-off release: %+v, %v", st, err)
	}
	mark := len(s.out.String())
	res := s.revert(1)
	if res.NewRelease != second.NewRelease || s.current() != second.NewRelease {
		t.Fatalf("revert 1 from the cut-off release went to %s, current %s: want %s, the last deploy", res.NewRelease, s.current(), second.NewRelease)
	}
	if !strings.Contains(s.out.String()[mark:], "current release "+cut+" is no deploy that .deploys records") {
		t.Errorf("revert does not say why it went back from a release .deploys does not name:\n%s", s.out)
	}
	l := s.log()
	if last := l[len(l)-1]; last.Event != EventRevert || last.Release != second.NewRelease {
		t.Errorf("last .deploys line %+v, want the revert to %s", last, second.NewRelease)
	}
	if st, err := Status(ctxFor(t), s.conn, s.env, s.opts()); err != nil || st.Unlogged {
		t.Errorf("status after the revert: %+v, %v", st, err)
	}

	// keep 3 with five releases: the cut-off one goes first (with the
	// failed one).
	o.commit(nil)
	next := s.deploy()
	if got := s.releases(); len(got) != 3 || slices.Contains(got, cut) || !slices.Contains(got, second.NewRelease) || !slices.Contains(got, next.NewRelease) {
		t.Errorf("releases after the next deploy (keep 3): %v, want the cut-off %s pruned first", got, cut)
	}

	// A current that a line names but not as a successful deploy (here
	// `failed`, as a first deploy whose gate failed leaves it) is refused.
	fh, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(next.NewSHA + "\t" + next.NewRelease + "\t2026-12-06T00:00:00Z\tfailed\tmain\ttester@laptop\n")
	fh.Close()
	if _, err := Revert(ctxFor(t), s.conn, s.env, 1, s.opts()); err == nil || !strings.Contains(err.Error(), "current release '"+next.NewRelease+"' is not a successful deploy in .deploys") {
		t.Errorf("revert from a release logged failed: %v", err)
	}
}
