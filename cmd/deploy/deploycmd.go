package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/report"
)

// deploy deploys the env's ref (or the one given) to every host; with
// --dry-run it only says what would be done.
func (c *command) deploy(ctx context.Context) error {
	if c.inv.Ref != "" {
		if c.g.Ref != "" && c.g.Ref != c.inv.Ref {
			return usagef("give the ref once", "two refs given: %q and --ref %q", c.inv.Ref, c.g.Ref)
		}
		c.g.Ref = c.inv.Ref
	}
	if c.g.DryRun {
		return c.dryRun(ctx)
	}
	if err := c.localSafety(ctx); err != nil {
		return err
	}
	if c.g.Dirty && c.env.Build != "local" {
		return usagef("--dirty builds on the laptop: set build local (and build-command) in "+c.env.Name, "--dirty needs build local")
	}
	if c.env.Source == "push" {
		p, err := c.pushSource()
		if err != nil {
			return err
		}
		c.push = p
	}
	if c.env.Build == "local" {
		a, err := c.buildLocal(ctx)
		if err != nil {
			return err
		}
		defer a.Remove()
		c.artifact = a
	}
	results, err := c.run(ctx)
	sum := report.Summarize(results, err)
	if c.g.JSON {
		if jerr := json.NewEncoder(c.stdout).Encode(sum); jerr != nil {
			return jerr
		}
	} else if len(c.env.Hosts) > 1 {
		fmt.Fprintln(c.stdout)
		if werr := report.WriteSummary(c.stdout, sum); werr != nil {
			return werr
		}
	}
	if len(c.env.Hosts) > 1 {
		warnUnchecked(c.stderr, c.env.Name, sum)
	}
	warnPruneFailed(c.stderr, c.env.Path, sum)
	if err != nil && (ctx.Err() != nil || len(c.env.Hosts) > 1) {
		what := "deploy failed"
		if ctx.Err() != nil {
			what = "interrupted"
		}
		fmt.Fprintf(c.stderr, "%s; every lock is released and the hosts are:\n", what)
		_ = report.WriteStates(c.stderr, sum)
	}
	if len(c.env.Hosts) == 1 && sameDestination(c.remoteOut(), c.stderr) {
		dropStreamedOutput(err)
	}
	return err
}

// dropStreamedOutput empties the output lines of err's failed steps: one
// host's output streams unprefixed as it comes, and where the error is
// printed to the same place (a terminal, 2>&1, --json's stderr) those
// lines were just shown; printed again under "error:" they read as a
// second failure. Where the two differ (stdout to a file or a pipe) the
// error keeps them, the only copy its reader sees. --json's summary was
// written before, with them.
func dropStreamedOutput(err error) {
	for err != nil {
		if se, ok := err.(*deploy.StepError); ok {
			se.Output = nil
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				dropStreamedOutput(e)
			}
			return
		default:
			return
		}
	}
}

// sameDestination says whether two writers end in the same place: one
// writer, or two files that are one (a terminal both are attached to, one
// pipe, 2>&1).
func sameDestination(a, b io.Writer) bool {
	fa, okA := a.(*os.File)
	fb, okB := b.(*os.File)
	if okA && okB {
		sa, errA := fa.Stat()
		sb, errB := fb.Stat()
		return errA == nil && errB == nil && os.SameFile(sa, sb)
	}
	ta := reflect.TypeOf(a)
	return ta != nil && ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

// events returns the callback that prints fleet events: JSON lines on
// stdout with --json, updates of the live lines on a terminal, else a
// line per event under the host's prefix (progress when piped).
func (c *command) events(out *report.Output, live bool) func(deploy.FleetEvent) {
	if live {
		return out.Event
	}
	if !c.g.JSON {
		return func(ev deploy.FleetEvent) {
			fmt.Fprintln(out.Host(ev.Host), "==> "+eventText(ev))
		}
	}
	var mu sync.Mutex
	enc := json.NewEncoder(c.stdout)
	return func(ev deploy.FleetEvent) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
	}
}

// remoteOut is where the hosts' own output (git, hooks) goes: stdout, or
// stderr with --json so that stdout holds only JSON.
func (c *command) remoteOut() io.Writer {
	if c.g.JSON {
		return c.stderr
	}
	return c.stdout
}

// run deploys to every host through deploy.Run. Several hosts' output
// goes under per-host prefixes (live lines on a terminal); one host's is
// not prefixed, and its steps print as "==> step" lines.
func (c *command) run(ctx context.Context) ([]deploy.HostResult, error) {
	fo := deploy.FleetOptions{
		Options:    c.options(config.Host{}, c.remoteOut()),
		Dial:       c.dial.dial,
		NoRollback: c.g.NoRollback,
	}
	if len(c.env.Hosts) == 1 {
		onEvent, stop := c.singleEvents(ctx)
		fo.OnEvent = onEvent
		results, err := deploy.Run(ctx, c.env, fo)
		stop()
		if err == nil && !c.g.JSON {
			writeDeployed(c.stdout, c.stderr, c.env.Name, results[0].Host, results[0].Result)
		}
		return results, err
	}
	oo := outputOptions(c.remoteOut())
	if c.g.JSON {
		oo.Live = false
	}
	out := report.NewOutput(c.remoteOut(), hostNames(c.env.Hosts), oo)
	if oo.Live {
		liveView.Store(out)
		defer liveView.Store(nil)
	}
	var mu sync.Mutex
	writers := map[string]*report.HostWriter{}
	fo.Output = func(h config.Host) io.Writer {
		mu.Lock()
		defer mu.Unlock()
		w := out.Host(h.String())
		writers[h.String()] = w
		return w
	}
	fo.OnEvent = c.events(out, oo.Live)
	results, err := deploy.Run(ctx, c.env, fo)
	for _, w := range writers {
		_ = w.Flush()
	}
	out.Close()
	return results, err
}

// singleEvents prints a one-host deploy's events: JSON lines with
// --json, else each step as "==> step". Once the host switched, Ctrl-C
// says that the server finishes (and rolls back if the gate fails), until
// stop is called.
func (c *command) singleEvents(ctx context.Context) (onEvent func(deploy.FleetEvent), stop func() bool) {
	var switched atomic.Bool
	// stopped, under mu, keeps the note from being written once the
	// deploy's own report is (the two would race on stderr)
	var mu sync.Mutex
	stopped := false
	after := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if switched.Load() && !stopped {
			fmt.Fprintln(c.stderr, "interrupted after the switch: the server is finishing the restart and health gate, and rolls back if they fail; Ctrl-C again stops waiting (then check with 'deploy "+c.env.Name+" status')")
		}
	})
	stop = func() bool {
		mu.Lock()
		stopped = true
		mu.Unlock()
		return after()
	}
	enc := json.NewEncoder(c.stdout)
	onEvent = func(ev deploy.FleetEvent) {
		if ev.Phase == "step" && ev.Step == "switch" {
			switched.Store(true)
		}
		switch {
		case c.g.JSON:
			_ = enc.Encode(ev)
		case ev.Phase == "step":
			fmt.Fprintf(c.stdout, "==> %s\n", ev.Step)
		}
	}
	return onEvent, stop
}

// eventText is a fleet event as a progress line.
func eventText(ev deploy.FleetEvent) string {
	text := ev.Phase
	if ev.Step != "" {
		text = ev.Step
		if ev.Phase != "step" {
			text = ev.Phase + " " + ev.Step
		}
	}
	if ev.Error != "" {
		text += ": " + firstLine(strings.TrimPrefix(ev.Error, ev.Host+": "))
	}
	return text
}

// writeDeployed reports a switched release: "deployed" only when its gate
// showed that it serves; otherwise it says that nothing checked it, why,
// and how to check it now.
func writeDeployed(stdout, stderr io.Writer, env string, h config.Host, res *deploy.Result) {
	took := res.Duration.Round(msRound)
	if res.Gate != deploy.GateUnchecked {
		fmt.Fprintf(stdout, "deployed %s -> %s (%s) to %s in %s\n",
			deploy.ShortSHA(res.OldSHA), deploy.ShortSHA(res.NewSHA), res.NewRelease, h, took)
		return
	}
	fmt.Fprintf(stdout, "switched %s -> %s (%s) on %s in %s, UNCHECKED: nothing showed that it serves\n",
		deploy.ShortSHA(res.OldSHA), deploy.ShortSHA(res.NewSHA), res.NewRelease, h, took)
	fmt.Fprintf(stderr, "warning: %s\n%s", res.GateReason, uncheckedHint(env))
}

// uncheckedHint says how to look at, and undo, a release nothing checked.
func uncheckedHint(env string) string {
	return fmt.Sprintf("hint: look with 'deploy %s status'; roll back with 'deploy %s revert'\n", env, env)
}

// warnPruneFailed says which hosts kept old releases that their prune
// could not remove, and what to do; the deploy is not failed for it.
func warnPruneFailed(w io.Writer, path string, sum report.Summary) {
	for _, h := range sum.Hosts {
		if len(h.PruneFailed) == 0 {
			continue
		}
		fmt.Fprintf(w, "warning: %s: old release(s) %s could not be removed (the output above says why): the deploy is live; "+
			"remove what is left by hand (files another user owns? sudo rm -rf %s/releases/.prune-<release>); each deploy tries again\n",
			h.Host, strings.Join(h.PruneFailed, ", "), path)
	}
}

// warnUnchecked says which hosts of a fleet run a release that nothing
// checked, and why.
func warnUnchecked(w io.Writer, env string, sum report.Summary) {
	var hosts []string
	why := ""
	for _, h := range sum.Hosts {
		if h.Outcome == deploy.OutcomeUnchecked {
			hosts, why = append(hosts, h.Host), h.Unchecked
		}
	}
	if len(hosts) > 0 {
		fmt.Fprintf(w, "warning: nothing showed that the new release serves on %s: %s\n%s",
			strings.Join(hosts, ", "), why, uncheckedHint(env))
	}
}
