package deploy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fakeProtocol is what a hook may print that reads as the script's
// protocol without the run's mark: a post-deploy hook printing an
// earlier deploy's log (the git push hook's output), a nested deploy, a
// test of this tool.
const fakeProtocol = `echo '@@deploy fail pre-deploy not the script'; echo '@@deploy info new 2020-fake 0000000'; echo '@@deploy exit 1'`

// TestHookOutputLikeProtocolIsOutput: a hook that prints "@@deploy exit
// 1" closed the control channel (the client took it for the script's last
// line, and the script took the EOF for Ctrl-C and aborted the deploy);
// "@@deploy fail …" made a good deploy's error. With the run's mark in
// every protocol line, they are the hooks' output, passed on as written,
// and the deploy goes on to the end.
func TestHookOutputLikeProtocolIsOutput(t *testing.T) {
	o, s, first := deployed(t)
	sha := o.commit(nil)
	s.env.PreDeploy = fakeProtocol
	s.env.PostDeploy = fakeProtocol
	res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, s.out)
	}
	if res.NewSHA != sha || res.NewRelease == first.NewRelease || s.current() != res.NewRelease {
		t.Errorf("result %+v, current %s: want %s live", res, s.current(), sha[:7])
	}
	if log := s.log(); log[len(log)-1].Event != EventDeploy || log[len(log)-1].SHA != sha {
		t.Errorf("last .deploys entry %+v, want the deploy of %s", log[len(log)-1], sha[:7])
	}
	out := s.out.String()
	for _, l := range []string{"@@deploy fail pre-deploy not the script\n", "@@deploy info new 2020-fake 0000000\n", "@@deploy exit 1\n"} {
		if n := strings.Count(out, l); n != 2 {
			t.Errorf("%q passed on %d times, want 2 (once per hook)\n%s", l, n, out)
		}
	}
}

// TestExecOutputLikeProtocolIsOutput: exec passes a command's output on
// unchanged, but took output starting with "@@deploy " for the script's
// own failure report: `deploy production exec 'cat deploy.log'` failed
// with the log's first line as its error.
func TestExecOutputLikeProtocolIsOutput(t *testing.T) {
	_, s, _ := deployed(t)
	var out bytes.Buffer
	err := Exec(ctxFor(t), s.conn, s.env, []string{"echo '@@deploy fail exec nothing deployed'; echo rest"}, Options{Stdout: &out, Who: "t@l"})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	if want := "@@deploy fail exec nothing deployed\nrest\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestFleetHookCannotFakePrepared: one host's build prints a `prepared`
// line without the run's mark, then fails. The fleet took it for the
// host's real `prepared` and switched the other hosts before this one
// was built; now nothing switches, as for any build failing on one host.
func TestFleetHookCannotFakePrepared(t *testing.T) {
	f := newFleet(t, 2)
	before := f.currents()
	flag := f.write(1, "fake-prepared", "", 0o644)
	f.env.PreDeploy = "if [ -e " + flag + " ]; then echo '@@deploy prepared 2026-fake 0000000000000000000000000000000000000000'; sleep 2; echo 'build broke'; exit 2; fi"
	f.origin.commit(nil)
	res, err := DeployFleet(ctxFor(t), f.env, f.options())
	var fe *FleetError
	if !errors.As(err, &fe) || fe.Phase != "prepare" || fe.Host != f.env.Hosts[1].String() ||
		!strings.Contains(err.Error(), "no host switched") {
		t.Fatalf("err = %v, want a prepare failure on host 1 and no host switched\n%s", err, f.out)
	}
	if !same(outcomes(res), OutcomeAborted, OutcomeFailed) {
		t.Errorf("outcomes %v", outcomes(res))
	}
	if got := f.currents(); !same(got, before...) {
		t.Errorf("currents %v, want unchanged %v", got, before)
	}
	for i := range f.hosts {
		for _, e := range f.server(i).log() {
			if e.Event == EventDeploy && e.SHA == f.origin.git("rev-parse", "HEAD") {
				t.Errorf("host %d logged a deploy of the new commit: it switched", i)
			}
		}
	}
	f.assertFree()
}
