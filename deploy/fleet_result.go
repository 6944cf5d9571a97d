package deploy

import (
	"fmt"
	"strings"

	"github.com/deploytool/deploy/deploy/config"
)

// The outcomes of a host in a fleet deploy, in HostResult.Outcome.
const (
	// OutcomeDeployed: the host runs the new release.
	OutcomeDeployed = "deployed"
	// OutcomeUnchecked: the host runs the new release, but nothing showed
	// that it serves (no procmon and no healthcheck, or procmon not
	// running yet on a first deploy): Result.GateReason says why.
	OutcomeUnchecked = "unchecked"
	// OutcomeAborted: the host did not switch (its prepared release was
	// discarded, or it was never started) because another host failed
	// or the deploy was interrupted.
	OutcomeAborted = "aborted"
	// OutcomeReverted: the host switched, then was put back on its
	// previous release because another host failed or the deploy was
	// interrupted.
	OutcomeReverted = "reverted"
	// OutcomeFailed: the host itself failed (see HostResult.Err); after a
	// failed gate it was put back on its previous release (Result.Reverted).
	OutcomeFailed = "failed"
)

// HostResult is what happened on one host of a fleet deploy.
type HostResult struct {
	// Host is the host, as written in the config.
	Host config.Host
	// Result is the remote result, filled as far as the host got (nil when
	// it was not reached).
	Result *Result
	// Err is why the host failed (nil = it deployed, or was aborted or
	// reverted because another host failed: see Outcome).
	Err error
	// Outcome is OutcomeDeployed, OutcomeUnchecked, OutcomeAborted,
	// OutcomeReverted or OutcomeFailed.
	Outcome string
}

// FleetError is a fleet deploy that did not deploy every host: the host
// that failed first and why, and where every other host ended.
type FleetError struct {
	// Phase is where it failed: "prepare" or "release" (the first host's
	// release-command; no host switched either way), "switch" (a restart
	// or health gate) or "commit".
	Phase string
	// Host is the host that failed ("" when the deploy was interrupted).
	Host string
	// Err is that host's error (a *StepError for a remote step), or the
	// interruption.
	Err error
	// Interrupted is true when ctx ended (Ctrl-C) rather than a host failing.
	Interrupted bool
	// Reverted are the hosts put back on their previous release, Kept the
	// switched hosts left on the new one (NoRollback), Aborted those that
	// never switched.
	Reverted, Kept, Aborted []string
}

// Error says what failed, why, and where every host ended, e.g.
// "switch failed on web2: gate: healthcheck …: HTTP 503 after 60s",
// then "put back on their previous release: web1, web2".
func (e *FleetError) Error() string {
	var b strings.Builder
	switch {
	case e.Interrupted:
		fmt.Fprintf(&b, "deploy %v", e.Err)
	default:
		fmt.Fprintf(&b, "%s failed on %s: %s", e.Phase, e.Host, hostless(e.Err, e.Host))
	}
	before := e.Phase == "prepare" || e.Phase == "release"
	if before {
		b.WriteString("\nno host switched: every prepared release was discarded")
	}
	for _, l := range []struct {
		what  string
		hosts []string
	}{{"put back on their previous release", e.Reverted}, {"kept on the new release (--no-rollback)", e.Kept}, {"not switched", e.Aborted}} {
		if len(l.hosts) > 0 && !before {
			fmt.Fprintf(&b, "\n%s: %s", l.what, strings.Join(l.hosts, ", "))
		}
	}
	return b.String()
}

// Unwrap returns the failed host's error.
func (e *FleetError) Unwrap() error { return e.Err }

// hostless is err's text without a leading "<host>: " (a StepError names
// its host; the FleetError already does).
func hostless(err error, host string) string {
	return strings.TrimPrefix(err.Error(), host+": ")
}

// fleetError completes err (a *FleetError) with where each host ended.
func fleetError(err error, runs []*hostRun) error {
	fe, ok := err.(*FleetError)
	if !ok {
		return err
	}
	for _, r := range runs {
		h := r.res.Host.String()
		switch {
		case r.res.Result != nil && r.res.Result.Reverted:
			fe.Reverted = append(fe.Reverted, h)
		case r.switched():
			fe.Kept = append(fe.Kept, h)
		case r.res.Outcome == OutcomeAborted:
			fe.Aborted = append(fe.Aborted, h)
		}
	}
	return fe
}

func results(runs []*hostRun) []HostResult {
	out := make([]HostResult, len(runs))
	for i, r := range runs {
		out[i] = r.res
	}
	return out
}

// SwitchedOutcome is the outcome of a host that runs the new release:
// deployed when its gate passed, unchecked when nothing could check it.
func SwitchedOutcome(res *Result) string {
	if res != nil && res.Gate == GateUnchecked {
		return OutcomeUnchecked
	}
	return OutcomeDeployed
}
