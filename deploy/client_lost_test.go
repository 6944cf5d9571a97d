package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The laptop dies after the switch (SIGKILL of the ssh client: a crash, a
// closed lid, a dropped VPN). sshd closes the channel without a signal, so
// the script learns it only when a write fails. It must still finish what
// it started: a failing gate is followed by the rollback, and a held host
// (a fleet waiting for its commit) goes back to its previous release.

// killable returns a real-sshd Conn whose running ssh client kill()
// SIGKILLs.
func killable(t *testing.T) (conn *sshCLIConn, kill func()) {
	conn = startSSHD(t)
	var mu sync.Mutex
	var last *exec.Cmd
	conn.started = func(c *exec.Cmd) { mu.Lock(); last = c; mu.Unlock() }
	return conn, func() {
		mu.Lock()
		defer mu.Unlock()
		_ = last.Process.Kill()
	}
}

// sshDeployed is a server set up and deployed once over the real sshd.
func sshDeployed(t *testing.T, conn *sshCLIConn) (*origin, *server, *Result) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	if err := Setup(ctxFor(t), conn, s.env, s.opts()); err != nil {
		t.Fatalf("setup: %v\n%s", err, s.out)
	}
	first, err := Deploy(ctxFor(t), conn, s.env, s.opts())
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, s.out)
	}
	return o, s, first
}

// waitRolledBack waits (bounded) until the server freed its lock and put
// current back on want, with a revert as the last .deploys event.
func waitRolledBack(t *testing.T, s *server, want string) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		log := s.log()
		last := log[len(log)-1]
		if s.lockLine() == "" && s.current() == want && last.Event == EventRevert && last.Release == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("40 s after the client died: current %s, last event %+v, lock %q; want a rollback to %s",
				s.current(), last, s.lockLine(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killInPostDeploy makes the next deploy's post-deploy hook announce
// itself, output a line and take a second; the returned arm starts a
// watcher that SIGKILLs the client once the hook runs.
func killInPostDeploy(t *testing.T, s *server, kill func()) (arm func()) {
	started := filepath.Join(t.TempDir(), "started")
	s.env.PostDeploy = "touch " + started + "; sleep 1; echo restarted"
	return func() { go func() { waitFile(t, started); kill() }() }
}

// One host, a release whose healthcheck fails, the client killed while
// post-deploy runs: the server still polls, fails the gate and rolls back.
func TestClientKilledDuringFailingGateRollsBack(t *testing.T) {
	conn, kill := killable(t)
	o, s, first := sshDeployed(t, conn)
	var code atomic.Int32
	code.Store(503)
	s.env.Healthcheck = "http://" + healthServer(t, &code) + "/healthz"
	s.env.Vars = map[string]string{"DEPLOY_HEALTH_TIMEOUT": "2"}
	armed := killInPostDeploy(t, s, kill)
	o.commit(nil)
	armed()
	_, _ = Deploy(ctxFor(t), conn, s.env, s.opts())
	waitRolledBack(t, s, first.NewRelease)
}

// A held host (the fleet's second phase) whose client dies before the
// commit goes back to its previous release, even when it dies before the
// host reported its gate.
func TestClientKilledBeforeCommitRollsBack(t *testing.T) {
	conn, kill := killable(t)
	o, s, first := sshDeployed(t, conn)
	armed := killInPostDeploy(t, s, kill)
	o.commit(nil)
	opts := s.opts()
	opts.Hold = true
	r, _, err := Prepare(ctxFor(t), conn, s.env, opts)
	if err != nil {
		t.Fatalf("prepare: %v\n%s", err, s.out)
	}
	armed()
	_, _ = r.Switch()
	waitRolledBack(t, s, first.NewRelease)
}

// The client killed during the gate of a good release: the deploy takes
// effect on the server, and the client says the outcome is unknown to it
// (not "failed"), and how to find it.
func TestClientKilledDuringGoodGateIsUnknownNotFailed(t *testing.T) {
	conn, kill := killable(t)
	o, s, _ := sshDeployed(t, conn)
	armed := killInPostDeploy(t, s, kill)
	o.commit(nil)
	armed()
	res, err := Deploy(ctxFor(t), conn, s.env, s.opts())
	var unknown *OutcomeUnknownError
	if !errors.As(err, &unknown) || unknown.Release != res.NewRelease {
		t.Fatalf("err = %v, want an OutcomeUnknownError for %s", err, res.NewRelease)
	}
	deadline := time.Now().Add(40 * time.Second)
	for s.lockLine() != "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	log := s.log()
	if last := log[len(log)-1]; s.current() != res.NewRelease || last.Event != EventDeploy || last.Release != res.NewRelease {
		t.Errorf("current %s, last event %+v: want the deploy of %s to have taken effect", s.current(), last, res.NewRelease)
	}
}

// The laptop killed while post-deploy runs, and the hook goes on writing
// output after that: the script's relay drains it (the channel's pipe is
// closed by then), so the hook is not killed by SIGPIPE halfway, the gate
// passes and the release stays. Without the drain, the hook's next write
// after the relay's failed one kills it, and the deploy rolls back.
func TestClientKilledHookKeepsWriting(t *testing.T) {
	conn, kill := killable(t)
	o, s, _ := sshDeployed(t, conn)
	dir := t.TempDir()
	started, finished := filepath.Join(dir, "started"), filepath.Join(dir, "finished")
	s.env.PostDeploy = "touch " + started + "; sleep 1; for i in 1 2 3 4 5 6; do echo line $i; sleep 0.2; done; touch " + finished
	o.commit(nil)
	go func() { waitFile(t, started); kill() }()
	res, _ := Deploy(ctxFor(t), conn, s.env, s.opts())
	deadline := time.Now().Add(40 * time.Second)
	for s.lockLine() != "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(finished); err != nil {
		t.Errorf("the post-deploy hook did not finish after the laptop died (killed by SIGPIPE?): %v", err)
	}
	log := s.log()
	if last := log[len(log)-1]; res.NewRelease == "" || s.current() != res.NewRelease || last.Event != EventDeploy {
		t.Errorf("current %s, last event %+v: want the deploy of %s to stay", s.current(), last, res.NewRelease)
	}
}
