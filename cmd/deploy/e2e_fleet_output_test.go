package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two hosts that share one disk (one machine, two sshd) cannot both take
// the deploy lock: the fleet deploy must fail as a whole, switch nothing,
// leave no lock, and report it through the CLI's fleet output: prefixed
// progress lines and the summary table when piped, JSON events and a
// summary under --json, and which release every host is on.
func TestFleetOutputWhenOneHostFails(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	before := f.current()
	second := f.twoHosts(t)
	h1, h2 := f.sshd.Addr(), second.Addr()
	f.origin.commit()
	f.writeHosts([]string{h1, h2}, "pre-deploy sleep 1")

	r := f.run(ctxMinute(t), "production")
	if r.code != 1 {
		t.Fatalf("a fleet deploy with a held lock exited %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{h1 + " | ==> ", h2 + " | ==> ", "HOST", "OLD → NEW", "RESULT"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	// The host that lost the race for the lock stops before the server
	// says what current is: "unchanged" is all it can say.
	for _, want := range []string{"deploy failed; every lock is released and the hosts are:", h1 + ": unchanged", h2 + ": unchanged"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if f.current() != before {
		t.Fatalf("current moved to %s", f.current())
	}

	j := f.run(ctxMinute(t), "production", "--json")
	events, sum := jsonLines(t, j.stdout)
	hosts := map[string]bool{}
	for _, ev := range events {
		hosts[ev.Host] = true
	}
	if j.code != 1 || sum.OK || len(sum.Hosts) != 2 || !hosts[h1] || !hosts[h2] {
		t.Errorf("--json: exit %d, events from %v, summary %+v", j.code, hosts, sum)
	}
	lockErr := false
	for _, h := range sum.Hosts {
		lockErr = lockErr || strings.Contains(h.Error, "lock")
		if h.State != "unchanged on "+before && h.State != "unchanged" {
			t.Errorf("summary says %s is %q, want unchanged on %s", h.Host, h.State, before)
		}
	}
	if !lockErr {
		t.Errorf("no host's error names the lock: %+v", sum.Hosts)
	}
	f.writeINI()
	f.mustRun("production") // no lock left behind
}

// Ctrl-C during a command that runs host after host (setup, revert…)
// stops before the next host and says where each one got to.
func TestInterruptSequentialCommandSaysWhereHostsAre(t *testing.T) {
	f := newFixture(t)
	second := f.twoHosts(t)
	h1, h2 := f.sshd.Addr(), second.Addr()
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	f.writeHosts([]string{h1, h2}, "post-setup "+gateHook(started, release))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan cliResult, 1)
	go func() { done <- f.run(ctx, "production", "setup") }()
	waitFile(t, started)
	cancel()
	// Let the hook end by itself (as root, sshd will not signal it), so
	// the first host finishes or stops, and the second must not start.
	writeFile(t, release, "")
	var r cliResult
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the interrupted setup did not end")
	}
	if !strings.Contains(r.stderr, h1+": done") && !strings.Contains(r.stderr, h1+": interrupted: its lock is released") {
		t.Errorf("stderr does not say where %s got to:\n%s", h1, r.stderr)
	}
	for _, want := range []string{"setup interrupted; the hosts are:", h2 + ": not started: unchanged"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code == 0 {
		t.Error("an interrupted setup exited 0")
	}
}
