package deploy

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// An interrupt after the switch does not cut the restart short: the
// server finishes it, and its failing test still rolls back.
func TestInterruptAfterSwitchLetsTheServerFinish(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	started := filepath.Join(t.TempDir(), "started")
	s.env.PostDeploy = "touch " + started + "; sleep 2"
	s.env.Test = "exit 1"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { waitFile(t, started); cancel() }()
	done := make(chan *Result, 1)
	opts := s.opts()
	opts.AbortGrace = 200 * time.Millisecond // what would cut the restart short, were it not for the switch
	go func() { res, _ := Deploy(ctx, s.conn, s.env, opts); done <- res }()
	var res *Result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the deploy did not end after the interrupt")
	}
	if !res.Reverted || s.current() != first.NewRelease {
		t.Errorf("after an interrupt mid-restart: reverted %v, current %s; want the failing test's rollback to %s", res.Reverted, s.current(), first.NewRelease)
	}
	if s.lockLine() != "" {
		t.Errorf("lock left: %q", s.lockLine())
	}
}
