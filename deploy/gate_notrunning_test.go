package deploy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// procmon not running (reload exits 5) is expected on the very first
// deploy, before there was a current for it to serve: the deploy switches,
// is reported unchecked with the command that starts procmon, and does
// not poll the healthcheck (nothing can answer it: that was a 60 s wait
// for a dead port). On any later deploy it fails the gate.
func TestGateProcmonNotRunning(t *testing.T) {
	o, s, code, _ := gatedServer(t)
	s.env.Healthcheck = "/healthz"
	s.env.Vars["DEPLOY_HEALTH_TIMEOUT"] = "3"
	must(t, os.WriteFile(code, []byte("5"), 0o644))
	first := s.deploy()
	if first.Gate != GateUnchecked || !strings.Contains(first.GateReason, "systemctl enable --now procmon@app") {
		t.Errorf("first deploy: gate %q (%s), want unchecked saying how to start procmon", first.Gate, first.GateReason)
	}
	for _, st := range first.Steps {
		if st.Name == "health" {
			t.Errorf("first deploy polled the healthcheck of a procmon that is not running")
		}
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

// With neither procmon nor healthcheck, nothing checks the release: the
// deploy goes through and its result says unchecked, and why.
func TestGateNoneIsUnchecked(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.env.RestartFile = "tmp/restart.txt"
	s.setup()
	res := s.deploy()
	if res.Gate != GateUnchecked || !strings.Contains(res.GateReason, "set procmon or healthcheck") {
		t.Errorf("gate %q (%s), want unchecked naming what to set", res.Gate, res.GateReason)
	}
	if !res.Switched || s.current() != res.NewRelease {
		t.Errorf("the release did not switch: %+v", res)
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

// Each exit status of `procmon reload --wait` has its own text: only 3
// (the reload was abandoned) says the old workers still serve; a procmon
// that failed or died may have left nothing serving.
func TestGateProcmonExitTexts(t *testing.T) {
	o, s, code, _ := gatedServer(t)
	s.deploy()
	for status, want := range map[string]string{
		"3":   "procmon kept the old ones serving",
		"4":   "gave no verdict in time",
		"1":   "if procmon itself stopped, nothing may be serving",
		"137": "ended abnormally; nothing may be serving",
	} {
		must(t, os.WriteFile(code, []byte(status), 0o644))
		o.commit(nil)
		_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
		var se *StepError
		if !errors.As(err, &se) || se.Step != "gate" || !strings.Contains(se.Message, want) {
			t.Errorf("reload exit %s: err = %v, want a gate failure saying %q", status, err, want)
		}
		if status != "3" && strings.Contains(se.Message, "still serve") {
			t.Errorf("reload exit %s claims the old workers still serve: %v", status, err)
		}
	}
}
