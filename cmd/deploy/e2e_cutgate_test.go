package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
)

// A connection cut while the health gate runs (the sshd session dies, the
// laptop cannot tell what happened next): the server finishes on its own.
// A gate that then passes keeps the new release, logged as a deploy; one
// that fails puts the old one back, logged as a revert. Either way the
// lock is freed and the laptop says the outcome is unknown and how to
// look, never that the deploy failed.
func TestCutSessionDuringGate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		passes  bool
		wantEnd string // the last .deploys event
	}{
		{"gate passes", true, "deploy"},
		{"gate fails", false, "revert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			cut := sshtest.NewCutter(t, f.sshd.Addr())
			f.writeINI()
			f.mustRun("production", "setup")
			f.mustRun("production")
			before := f.current()

			dir := t.TempDir()
			started, pass := filepath.Join(dir, "started"), filepath.Join(dir, "pass")
			f.origin.commit()
			hook := gateHook(started, pass)
			if !tc.passes {
				hook = fmt.Sprintf("touch %s; sleep 3; exit 9", started)
			}
			f.viaCutter(cut, "post-deploy "+hook)

			done := make(chan cliResult, 1)
			go func() { done <- f.run(ctxMinute(t), "production") }()
			waitFile(t, started)
			cut.Cut()
			if tc.passes {
				writeFile(t, pass, "")
			}
			var r cliResult
			select {
			case r = <-done:
			case <-time.After(90 * time.Second):
				t.Fatal("deploy did not return after its connection was cut")
			}
			if r.code == 0 || !strings.Contains(r.stderr, "unknown") || !strings.Contains(r.stderr, "deploy production status") {
				t.Errorf("after a cut during the gate the laptop must say the outcome is unknown and how to look (exit %d):\n%s", r.code, r.stderr)
			}
			f.writeINI()
			waitUnlocked(t, f)
			deadline := time.Now().Add(90 * time.Second)
			for time.Now().Before(deadline) {
				if ev := f.events(); ev[len(ev)-1] == tc.wantEnd && (tc.passes == (f.current() != before)) {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Fatalf("server ended on %s (before %s) with events %v; want last event %s", f.current(), before, f.events(), tc.wantEnd)
		})
	}
}
