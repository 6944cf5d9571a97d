package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/report"
)

// jsonLines parses every stdout line as one JSON object: --json must
// print nothing else there.
func jsonLines(t *testing.T, stdout string) (events []deploy.FleetEvent, sum *report.Summary) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var probe map[string]any
		if err := json.Unmarshal([]byte(l), &probe); err != nil {
			t.Fatalf("stdout line is not JSON: %q (%v)", l, err)
		}
		if _, ok := probe["summary"]; ok {
			sum = &report.Summary{}
			if err := json.Unmarshal([]byte(l), sum); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var ev deploy.FleetEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if sum != nil {
			t.Fatalf("event after the summary: %q", l)
		}
		events = append(events, ev)
	}
	if sum == nil {
		t.Fatalf("no summary object in:\n%s", stdout)
	}
	return events, sum
}

// --json: one event per line (steps included), then a summary that agrees
// with the server; a failing build gives ok=false and the host's error.
func TestJSONEventsParsedBack(t *testing.T) {
	f := newFixture(t)
	f.writeINI("pre-deploy echo building")
	f.mustRun("production", "setup")
	r := f.mustRun("production", "--json")
	events, sum := jsonLines(t, r.stdout)
	steps := map[string]bool{}
	for _, ev := range events {
		if ev.Host != f.sshd.Host() || ev.Time.IsZero() {
			t.Errorf("event %+v lacks its host or time", ev)
		}
		if ev.Phase == "step" {
			steps[ev.Step] = true
		}
	}
	for _, s := range []string{"lock", "fetch", "checkout", "pre-deploy", "switch"} {
		if !steps[s] {
			t.Errorf("no step event for %s in %+v", s, events)
		}
	}
	if last := events[len(events)-1]; last.Phase != "done" {
		t.Errorf("last event %+v, want done", last)
	}
	h := sum.Hosts[0]
	if !sum.OK || h.Outcome != "unchecked" || h.NewSHA != f.currentSHA() || h.NewRelease != f.current() || !strings.Contains(h.State, f.current()) {
		t.Errorf("summary %+v does not match the server (current %s %s)", sum, f.current(), f.currentSHA())
	}
	if !strings.Contains(r.stderr, "building") {
		t.Errorf("the hook's output should go to stderr under --json; stderr:\n%s", r.stderr)
	}

	f.origin.commit()
	f.writeINI("pre-deploy exit 3")
	bad := f.run(ctxMinute(t), "production", "--json")
	events, sum = jsonLines(t, bad.stdout)
	if bad.code != 1 || sum.OK || sum.Hosts[0].Outcome != "failed" || !strings.Contains(sum.Hosts[0].Error, "pre-deploy") ||
		events[len(events)-1].Phase != "failed" {
		t.Errorf("failed --json deploy: exit %d summary %+v last event %+v", bad.code, sum, events[len(events)-1])
	}
}

// Ctrl-C mid-build: the deploy stops, current is untouched, no lock is
// left, and the message says which release every host is on.
func TestInterruptSaysWhereHostsAre(t *testing.T) {
	interruptMidBuild(t, newFixture(t))
}

// interruptMidBuild sets up and deploys f, then interrupts its next
// deploy in a pre-deploy hook, and checks that current is untouched, the
// message says where the host is, and no lock is left.
func interruptMidBuild(t *testing.T, f *fixture) {
	t.Helper()
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	before := f.current()
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	f.origin.commit()
	f.writeINI("pre-deploy " + gateHook(started, filepath.Join(dir, "never")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan cliResult, 1)
	go func() { done <- f.run(ctx, "production") }()
	waitFile(t, started)
	cancel()
	var r cliResult
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the interrupted deploy did not end")
	}
	if r.code == 0 || !strings.Contains(r.stderr, "interrupted; every lock is released and the hosts are:") ||
		!strings.Contains(r.stderr, "unchanged on "+before) {
		t.Errorf("interrupt: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if f.current() != before {
		t.Errorf("current moved to %s", f.current())
	}
	f.writeINI()
	f.mustRun("production") // no lock left behind
}

// status --json and check --json print one object per host (then a
// summary for check), with snake_case keys, parsed back here.
func TestStatusAndCheckJSON(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	var row struct {
		Host   string `json:"host"`
		Deploy struct {
			Release  string `json:"release"`
			SHA      string `json:"sha"`
			LayoutOK bool   `json:"layout_ok"`
			Lock     string `json:"lock"`
		} `json:"deploy"`
	}
	st := f.mustRun("production", "status", "--json")
	if err := json.Unmarshal([]byte(st.stdout), &row); err != nil {
		t.Fatalf("status --json: %v\n%s", err, st.stdout)
	}
	if row.Host != f.sshd.Host() || row.Deploy.Release != f.current() || row.Deploy.SHA != f.currentSHA() || !row.Deploy.LayoutOK || row.Deploy.Lock != "free" {
		t.Errorf("status --json = %+v", row)
	}
	ck := f.mustRun("production", "check", "--json")
	lines := strings.Split(strings.TrimSpace(ck.stdout), "\n")
	var host struct {
		Items []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"items"`
		Current string `json:"current"`
	}
	var sum struct {
		Summary, OK bool
		Same        struct{ OK bool } `json:"same_current"`
	}
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &host) != nil || json.Unmarshal([]byte(lines[1]), &sum) != nil {
		t.Fatalf("check --json:\n%s", ck.stdout)
	}
	if len(host.Items) < 5 || host.Current != f.current() || !sum.Summary || !sum.OK || !sum.Same.OK {
		t.Errorf("check --json host %+v summary %+v", host, sum)
	}
}

// --json's summary has each host's steps with their times, and what
// build auto detected and how the dependencies came (installed, then
// reused from the cache).
func TestJSONSummaryStepsAndBuilt(t *testing.T) {
	requireTool(t, "npm")
	f := newFixture(t)
	f.origin.commitFiles(msApp)
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	for i, want := range []string{"installed", "reused"} {
		if i > 0 {
			f.origin.commit()
		}
		_, sum := jsonLines(t, f.mustRun("production", "--json").stdout)
		h := sum.Hosts[0]
		if len(h.Built) != 1 || h.Built[0].Stack != "node" || h.Built[0].Deps != want || h.Built[0].Method == "" ||
			!strings.HasPrefix(h.Built[0].Key, "node-") || h.Built[0].Why != "package.json + package-lock.json + scripts.build" {
			t.Errorf("deploy %d: built %+v, want node, deps %s, a method and key", i+1, h.Built, want)
		}
		var names []string
		var total float64
		for _, st := range h.Steps {
			names = append(names, st.Name)
			total += st.MS
		}
		if got := strings.Join(names, " "); !strings.Contains(got, "lock fetch resolve checkout build switch") {
			t.Errorf("deploy %d: steps %q", i+1, got)
		}
		if total <= 0 || total > float64(h.DurationMS)+1 {
			t.Errorf("deploy %d: the steps' times add up to %.1f ms, the host's to %d ms", i+1, total, h.DurationMS)
		}
	}
}
