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
