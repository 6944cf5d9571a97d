package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// immutable makes name unwritable even for root (chattr +i), as a
// read-only or full filesystem would make .deploys, until the test ends.
func immutable(t *testing.T, name string) {
	t.Helper()
	if out, err := exec.Command("chattr", "+i", name).CombinedOutput(); err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
			t.Fatalf("chattr +i %s: %v %s (make test needs a filesystem with file attributes under TMPDIR)", name, err, out)
		}
		t.Skipf("chattr +i %s: %v %s: this filesystem has no immutable attribute", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", name).Run() })
}

// A revert whose .deploys line cannot be written changes nothing: current
// stays, nothing restarts, and the error says why. (It used to move
// current and stop before the restart: current and what procmon served
// disagreed.)
func TestRevertWithUnwritableLogChangesNothing(t *testing.T) {
	o, s, _, calls := gatedServer(t)
	s.deploy()
	o.commit(nil)
	second := s.deploy()
	immutable(t, filepath.Join(s.env.Path, ".deploys"))
	reloads := len(readLines(t, calls))

	_, err := Revert(ctxFor(t), s.conn, s.env, 1, s.opts())
	if err == nil || !strings.Contains(err.Error(), "cannot append to") {
		t.Fatalf("revert with .deploys unwritable: err = %v, want it refused", err)
	}
	if s.current() != second.NewRelease {
		t.Errorf("current = %s, want %s unchanged", s.current(), second.NewRelease)
	}
	if n := len(readLines(t, calls)); n != reloads {
		t.Errorf("procmon reloaded %d times, want none", n-reloads)
	}
	if s.lockLine() != "" {
		t.Errorf("lock left: %q", s.lockLine())
	}
}

// A deploy whose .deploys line cannot be written puts current back before
// anything restarts and removes its release: revert must never meet a
// current that .deploys does not know.
func TestDeployWithUnwritableLogChangesNothing(t *testing.T) {
	o, s, _, calls := gatedServer(t)
	first := s.deploy()
	o.commit(nil)
	immutable(t, filepath.Join(s.env.Path, ".deploys"))
	reloads := len(readLines(t, calls))

	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if err == nil || !strings.Contains(err.Error(), "cannot append to") {
		t.Fatalf("deploy with .deploys unwritable: err = %v, want it refused", err)
	}
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s unchanged", s.current(), first.NewRelease)
	}
	if got := s.releases(); len(got) != 1 {
		t.Errorf("releases %v, want only %s", got, first.NewRelease)
	}
	if n := len(readLines(t, calls)); n != reloads {
		t.Errorf("procmon reloaded %d times, want none", n-reloads)
	}
}
