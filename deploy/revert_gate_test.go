package deploy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// A revert restarts through the same gate as a deploy: procmon reloads the
// release reverted to, and a reload that fails is reported, not hidden.
func TestRevertGoesThroughTheGate(t *testing.T) {
	o, s, code, calls := gatedServer(t)
	first := s.deploy()
	o.commit(nil)
	s.deploy()
	o.commit(nil)
	s.deploy()

	res := s.revert(1)
	got := readLines(t, calls)
	if len(got) != 4 || !strings.Contains(got[3], "releases/"+res.NewRelease) {
		t.Fatalf("procmon calls %q: want the revert's release reloaded last", got)
	}

	must(t, os.WriteFile(code, []byte("3"), 0o644))
	_, err := Revert(ctxFor(t), s.conn, s.env, 1, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "gate" || !strings.Contains(strings.Join(se.Output, "\n"), "reload abandoned") {
		t.Fatalf("revert with a failing reload: err = %v, want a gate StepError with procmon's reason", err)
	}
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s (the revert happened; it is the gate that failed)", s.current(), first.NewRelease)
	}
}
