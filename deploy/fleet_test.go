package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/config"
)

// outcomes returns each host's Outcome.
func outcomes(res []HostResult) []string {
	var out []string
	for _, r := range res {
		out = append(out, r.Outcome)
	}
	return out
}

func same(got []string, want ...string) bool {
	return strings.Join(got, " ") == strings.Join(want, " ")
}

// TestFleetBuildFailsOnOneHost: two-phase — a build failing on one of 3
// hosts switches no host, removes every prepared release and frees every
// lock.
func TestFleetBuildFailsOnOneHost(t *testing.T) {
	f := newFleet(t, 3)
	before := f.currents()
	releases := make([][]string, 3)
	for i := range f.hosts {
		releases[i] = f.server(i).releases()
	}
	flag := f.write(1, "fail-build", "", 0o644)
	f.env.PreDeploy = "if [ -e " + flag + " ]; then echo 'make: *** [build] Error 2'; exit 2; fi; sleep 0.3"
	f.origin.commit(nil)
	res, err := DeployFleet(ctxFor(t), f.env, f.options())
	var fe *FleetError
	if !errors.As(err, &fe) || fe.Phase != "prepare" || fe.Host != f.env.Hosts[1].String() ||
		!strings.Contains(err.Error(), "Error 2") || !strings.Contains(err.Error(), "no host switched") {
		t.Fatalf("err = %v, want a prepare failure on host 1 with the build's output", err)
	}
	if !same(outcomes(res), OutcomeAborted, OutcomeFailed, OutcomeAborted) {
		t.Errorf("outcomes %v", outcomes(res))
	}
	if got := f.currents(); !same(got, before...) {
		t.Errorf("currents %v, want unchanged %v", got, before)
	}
	for i := range f.hosts {
		if got := f.server(i).releases(); !same(got, releases[i]...) {
			t.Errorf("host %d releases %v, want only %v (prepared ones removed)", i, got, releases[i])
		}
	}
	f.assertFree()
}

// gateHost is one host's app for the gate tests: a fake procmon whose
// exit code is in a file, and a real HTTP server on loopback whose health
// answer can be set; the host's procmon.toml says where it listens.
type gateHost struct {
	code   string // file holding procmon's exit code, in the test's view
	calls  string // procmon's call log, in the test's view
	health atomic.Int32
}

// withGate gives every host a procmon (DEPLOY_PROCMON) and a healthcheck
// /healthz tried against its own procmon.toml listen address.
func (f *fleet) withGate() []*gateHost {
	gates := make([]*gateHost, len(f.hosts))
	for i := range f.hosts {
		g := &gateHost{}
		g.health.Store(200)
		addr := healthServer(f.t, &g.health)
		g.code = filepath.Join(f.hosts[i].Root, "procmon-code")
		g.calls = filepath.Join(f.hosts[i].Root, "procmon-calls")
		f.write(i, "bin/procmon", procmonScript(filepath.Join(f.mount, "procmon-code"), filepath.Join(f.mount, "procmon-calls")), 0o755)
		f.write(i, "procmon.toml", fmt.Sprintf("name = \"app\"\nlisten = %q\n", addr), 0o644)
		gates[i] = g
	}
	f.env.Procmon = filepath.Join(f.mount, "procmon.toml")
	f.env.Healthcheck = "/healthz"
	f.env.Vars = map[string]string{"DEPLOY_PROCMON": filepath.Join(f.mount, "bin/procmon"), "DEPLOY_HEALTH_TIMEOUT": "1"}
	return gates
}

// TestFleetGateFailsInSecondBatch: 4 hosts in batches of 2; the gate
// fails on host 3 (procmon abandons the reload, or the healthcheck answers
// 503): the first batch is put back on its previous release and
// restarted, the error names the host and why; NoRollback keeps the
// hosts whose gate passed (the first batch and host 2) and puts back only
// host 3.
func TestFleetGateFailsInSecondBatch(t *testing.T) {
	f := newFleet(t, 4)
	gates := f.withGate()
	f.env.Batch = 2
	first := f.currents()
	for _, tc := range []struct {
		name, why  string
		break_     func()
		noRollback bool
	}{
		{"procmon", "procmon reload --wait exited with status 3", func() {
			must(t, os.WriteFile(gates[3].code, []byte("3"), 0o644))
		}, false},
		{"healthcheck", "HTTP 503", func() { gates[3].health.Store(503) }, false},
		{"no-rollback", "HTTP 503", func() { gates[3].health.Store(503) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(gates[3].code)
			gates[3].health.Store(200)
			for _, g := range gates {
				_ = os.Remove(g.calls)
			}
			tc.break_()
			f.origin.commit(nil)
			fo := f.options()
			fo.NoRollback = tc.noRollback
			res, err := DeployFleet(ctxFor(t), f.env, fo)
			var fe *FleetError
			if !errors.As(err, &fe) || fe.Phase != "switch" || fe.Host != f.env.Hosts[3].String() ||
				!strings.Contains(err.Error(), tc.why) {
				t.Fatalf("err = %v, want host 3's gate failing with %q", err, tc.why)
			}
			t.Logf("error as the user sees it:\n%v", err)
			got := f.currents()
			if !res[3].Result.Reverted || got[3] != first[3] || res[3].Outcome != OutcomeFailed {
				t.Errorf("host 3: %+v, current %s, want it put back on %s", res[3].Result, got[3], first[3])
			}
			for i := 0; i < 3; i++ {
				calls := readLines(t, gates[i].calls)
				if tc.noRollback {
					if res[i].Outcome != OutcomeDeployed || got[i] != res[i].Result.NewRelease {
						t.Errorf("no-rollback host %d: %s on %s, want deployed", i, res[i].Outcome, got[i])
					}
					continue
				}
				if res[i].Outcome != OutcomeReverted || got[i] != first[i] {
					t.Errorf("host %d: %s, current %s, want reverted to %s", i, res[i].Outcome, got[i], first[i])
				}
				if len(calls) != 2 || !strings.Contains(calls[1], "releases/"+first[i]) {
					t.Errorf("host %d procmon calls %q, want the new then the previous release reloaded", i, calls)
				}
			}
			f.assertFree()
			if tc.noRollback {
				first = f.currents()
			}
		})
	}
}

// TestFleetParallel10 deploys 10 hosts at once and records the wall time.
func TestFleetParallel10(t *testing.T) {
	f := newFleet(t, 10)
	f.origin.commit(nil)
	f.stats.Connections.Store(0)
	begin := time.Now()
	res, err := DeployFleet(ctxFor(t), f.env, f.options())
	took := time.Since(begin)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	t.Logf("10 hosts deployed in %v, %d connections", took, f.stats.Connections.Load())
	want := res[0].Result.NewSHA
	for i, r := range res {
		if r.Outcome != OutcomeUnchecked || r.Result.NewSHA != want || f.server(i).current() != r.Result.NewRelease {
			t.Errorf("host %d: %s %+v", i, r.Outcome, r.Result)
		}
	}
	if n := f.stats.Connections.Load(); n != 10 {
		t.Errorf("%d connections for 10 hosts, want one each", n)
	}
	f.assertFree()
}

// TestFleetParallelCap: with parallel 2 no more than 2 hosts dial and
// prepare at once.
func TestFleetParallelCap(t *testing.T) {
	f := newFleet(t, 4)
	f.env.Parallel = 2
	var now, peak atomic.Int32
	fo := f.options()
	dial := fo.Dial
	fo.Dial = func(ctx context.Context, h config.Host) (Conn, error) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return dial(ctx, h)
	}
	fo.OnEvent = func(ev FleetEvent) {
		if ev.Phase == "prepared" || ev.Phase == "failed" {
			now.Add(-1)
		}
	}
	f.env.PreDeploy = "sleep 0.3"
	f.origin.commit(nil)
	if _, err := DeployFleet(ctxFor(t), f.env, fo); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak of %d hosts preparing at once, want 2", p)
	}
}

// TestFleetInterruptMidPrepare: Ctrl-C while every host builds — no host
// switches, no lock or prepared release is left.
func TestFleetInterruptMidPrepare(t *testing.T) {
	f := newFleet(t, 3)
	before := f.currents()
	f.env.PreDeploy = gateHook(filepath.Join(f.mount, "started"), filepath.Join(f.mount, "never"))
	f.origin.commit(nil)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	go func() {
		for i := range f.hosts {
			waitFile(t, filepath.Join(f.hosts[i].Root, "started"))
		}
		cancel()
	}()
	res, err := DeployFleet(ctx, f.env, f.options())
	var fe *FleetError
	if !errors.As(err, &fe) || !fe.Interrupted || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want an interruption", err)
	}
	t.Logf("error as the user sees it:\n%v", err)
	if !same(outcomes(res), OutcomeAborted, OutcomeAborted, OutcomeAborted) {
		t.Errorf("outcomes %v", outcomes(res))
	}
	if got := f.currents(); !same(got, before...) {
		t.Errorf("currents %v, want %v", got, before)
	}
	for i := range f.hosts {
		if n := len(f.server(i).releases()); n != 1 {
			t.Errorf("host %d has %d releases, want the prepared one removed", i, n)
		}
	}
	f.assertFree()
}

// TestFleetInterruptAfterSwitch: Ctrl-C once the first of 3 hosts (batch
// 1) switched — it is put back, the others never switch: every host ends
// on the release it had, no lock left.
func TestFleetInterruptAfterSwitch(t *testing.T) {
	f := newFleet(t, 3)
	f.env.Batch = 1
	before := f.currents()
	f.origin.commit(nil)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	fo := f.options()
	var once sync.Once
	fo.OnEvent = func(ev FleetEvent) {
		if ev.Phase == "gate" {
			once.Do(cancel)
		}
	}
	res, err := DeployFleet(ctx, f.env, fo)
	var fe *FleetError
	if !errors.As(err, &fe) || !fe.Interrupted || fe.Phase != "switch" {
		t.Fatalf("err = %v, want an interruption after the switch", err)
	}
	t.Logf("error as the user sees it:\n%v", err)
	if !same(outcomes(res), OutcomeReverted, OutcomeAborted, OutcomeAborted) || !res[0].Result.Reverted {
		t.Errorf("outcomes %v", outcomes(res))
	}
	if got := f.currents(); !same(got, before...) {
		t.Errorf("currents %v, want every host back on %v", got, before)
	}
	f.assertFree()
	if !strings.Contains(err.Error(), "put back on their previous release: "+f.env.Hosts[0].String()) {
		t.Errorf("error does not say what was put back: %v", err)
	}
}
