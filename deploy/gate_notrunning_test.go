package deploy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// procmon not running (reload exits 5) is expected on the very first
// deploy, before there was a current for it to serve: the deploy passes
// and says how to start it. On any later deploy it fails the gate.
func TestGateProcmonNotRunning(t *testing.T) {
	o, s, code, _ := gatedServer(t)
	must(t, os.WriteFile(code, []byte("5"), 0o644))
	first := s.deploy()
	if !strings.Contains(s.out.String(), "systemctl enable --now procmon@") {
		t.Errorf("first deploy does not say how to start procmon:\n%s", s.out)
	}
	o.commit(nil)
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "gate" || !strings.Contains(se.Message, "not running") {
		t.Fatalf("second deploy with procmon down: err = %v, want a gate failure saying procmon is not running", err)
	}
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s put back", s.current(), first.NewRelease)
	}
}

// A deploy user outside procmon's group (reload exits 6) fails the gate
// with a permission error that says what to do, never "the new workers
// did not become ready": procmon did not reload at all.
func TestGateProcmonPermissionDenied(t *testing.T) {
	o, s, code, _ := gatedServer(t)
	first := s.deploy()
	must(t, os.WriteFile(code, []byte("6"), 0o644))
	o.commit(nil)
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "gate" || !strings.Contains(se.Message, "exited with status 6: permission denied") ||
		!strings.Contains(se.Message, "usermod -aG") || strings.Contains(se.Message, "did not become ready") {
		t.Fatalf("deploy with procmon refusing the deploy user: err = %v, want a gate failure saying permission denied", err)
	}
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s put back", s.current(), first.NewRelease)
	}
}
