package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A release that failed its test (and was put back) is never what a later
// revert goes back to: it is logged failed, and revert skips failed ones.
func TestRevertSkipsAReleaseThatWasPutBack(t *testing.T) {
	o, s, _ := deployed(t)
	o.commit(nil)
	d2 := s.deploy()
	o.commit(nil)
	s.env.Test = "exit 4"
	if _, err := Deploy(ctxFor(t), s.conn, s.env, s.opts()); err == nil {
		t.Fatal("a deploy whose test fails succeeded")
	}
	s.env.Test = ""
	o.commit(nil)
	s.deploy()
	if res := s.revert(1); res.NewRelease != d2.NewRelease {
		t.Errorf("revert 1 went to %s; want %s, skipping the release whose test failed", res.NewRelease, d2.NewRelease)
	}
}

// A failing post-deploy is a failed restart: the previous release is put
// back, like a failed gate, instead of leaving the new one switched.
func TestFailingPostDeployPutsPreviousBack(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	s.env.PostDeploy = "echo 'restart failed'; exit 3"
	res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "post-deploy hook exited with status 3") {
		t.Fatalf("err = %v, want the post-deploy failure named", err)
	}
	if !res.Reverted || s.current() != first.NewRelease {
		t.Errorf("current = %s (reverted %v), want %s put back", s.current(), res.Reverted, first.NewRelease)
	}
}

// When the release put back fails its own restart too, the error still
// says why the deploy failed, and notes the second failure.
func TestRevertFailureKeepsTheReason(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	s.env.PostDeploy = "case $DEPLOY_RELEASE in *" + first.NewRelease + ") echo old-post-fails; exit 7;; esac"
	s.env.Test = "echo 'tests: 3 failed'; exit 4"
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if err == nil || !strings.Contains(err.Error(), "test hook exited with status 4") || !strings.Contains(err.Error(), "status 7") {
		t.Fatalf("err = %v, want the test failure and the put-back release's failure", err)
	}
}

// .deploys that cannot be written after the switch puts current back
// before anything restarted (current and the log must agree), and the
// release then removed is never the one current points at.
func TestLogFailureAfterSwitchKeepsTheLiveRelease(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	p := filepath.Join(s.env.Path, ".deploys")
	must(t, os.Remove(p))
	must(t, os.Mkdir(p, 0o755)) // appending fails, as on a full disk
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if err == nil || !strings.Contains(err.Error(), "cannot append to") {
		t.Fatalf("deploy: err = %v, want the unwritable log refused", err)
	}
	if _, err := os.Stat(filepath.Join(s.env.Path, "current", "REVISION")); err != nil || s.current() != first.NewRelease {
		t.Fatalf("current %s (want %s) does not resolve: %v", s.current(), first.NewRelease, err)
	}
}

// A post-deploy failing on one host of a fleet is that host's failed
// gate: every host ends back on the release it had.
func TestFleetPostDeployFailureRevertsEveryHost(t *testing.T) {
	f := newFleet(t, 3)
	before := f.currents()
	flag := f.write(1, "fail-post", "", 0o644)
	f.env.PostDeploy = "if [ -e " + flag + " ]; then echo 'post boom'; exit 3; fi"
	f.origin.commit(nil)
	res, err := DeployFleet(ctxFor(t), f.env, f.options())
	if err == nil {
		t.Fatal("the fleet deploy succeeded with a failing post-deploy on host 1")
	}
	if after := f.currents(); !same(after, before...) {
		t.Errorf("currents %v after the failed deploy, want %v: outcomes %v, err %v", after, before, outcomes(res), err)
	}
	if strings.Contains(err.Error(), "no-rollback") {
		t.Errorf("the error mentions --no-rollback, which was not given: %v", err)
	}
	f.assertFree()
}

// TestRevertSkipsTheSameCode: revert goes back to other code, never to a
// release of the commit already live. Deploy A, deploy B, revert (A
// serves), deploy B again: revert goes to A, not to B's first release
// (which switched the same code and said "reverted"). A redeploy of the
// same commit (a restart) is not a step back either, and prune keeps
// what revert needs by the same rule (keep 2: A stays, B's first goes).
func TestRevertSkipsTheSameCode(t *testing.T) {
	o := newOrigin(t)
	s := newServer(t, o)
	s.env.Keep = 2
	shaA := o.commit(nil)
	s.setup()
	a := s.deploy().NewRelease
	o.commit(nil) // B
	s.deploy()
	s.revert(1)
	if s.current() != a {
		t.Fatalf("revert 1 from B: current %s, want %s", s.current(), a)
	}
	b2 := s.deploy().NewRelease // B again, a release of its own
	b3 := s.deploy().NewRelease // and again: a restart
	if r := s.revert(1); r.NewSHA != shaA || s.current() != a {
		t.Fatalf("revert 1 from %s (B): went to %s (%s), want %s (A)\n%s", b3, r.NewRelease, r.NewSHA, a, s.out)
	}
	if _, err := os.Stat(filepath.Join(s.env.Path, "releases", b2)); !os.IsNotExist(err) {
		t.Errorf("keep 2 kept %s, a release of B's commit beside the live B (%v), want it pruned for A", b2, err)
	}
}
