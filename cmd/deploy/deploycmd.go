package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
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
	if err := c.localSafety(); err != nil {
		return err
	}
	var results []deploy.HostResult
	var err error
	if len(c.env.Hosts) == 1 {
		results, err = c.deployOne(ctx, c.env.Hosts[0])
	} else {
		results, err = c.deployFleet(ctx)
	}
	sum := deploy.Summarize(results, err)
	if c.g.JSON {
		if jerr := json.NewEncoder(c.stdout).Encode(sum); jerr != nil {
			return jerr
		}
	} else if len(c.env.Hosts) > 1 {
		fmt.Fprintln(c.stdout)
		if werr := deploy.WriteSummary(c.stdout, sum); werr != nil {
			return werr
		}
	}
	if len(c.env.Hosts) > 1 {
		warnUnchecked(c.stderr, c.env.Name, sum)
	}
	if err != nil && (ctx.Err() != nil || len(c.env.Hosts) > 1) {
		what := "deploy failed"
		if ctx.Err() != nil {
			what = "interrupted"
		}
		fmt.Fprintf(c.stderr, "%s; every lock is released and the hosts are:\n", what)
		_ = deploy.WriteStates(c.stderr, sum)
	}
	return err
}

// events returns the callback that prints fleet events: JSON lines on
// stdout with --json, updates of the live lines on a terminal, else a
// line per event under the host's prefix (progress when piped).
func (c *command) events(out *deploy.Output, live bool) func(deploy.FleetEvent) {
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

func (c *command) deployFleet(ctx context.Context) ([]deploy.HostResult, error) {
	oo := outputOptions(c.remoteOut())
	if c.g.JSON {
		oo.Live = false
	}
	out := deploy.NewOutput(c.remoteOut(), hostNames(c.env.Hosts), oo)
	var mu sync.Mutex
	writers := map[string]*deploy.HostWriter{}
	fo := deploy.FleetOptions{
		Options: c.options(config.Host{}, nil),
		Dial:    c.dial.dial,
		Output: func(h config.Host) io.Writer {
			mu.Lock()
			defer mu.Unlock()
			w := out.Host(h.String())
			writers[h.String()] = w
			return w
		},
		NoRollback: c.g.NoRollback,
		OnEvent:    c.events(out, oo.Live),
	}
	results, err := deploy.DeployFleet(ctx, c.env, fo)
	for _, w := range writers {
		_ = w.Flush()
	}
	out.Close()
	return results, err
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

// deployOne deploys to the env's only host; its output is not prefixed.
func (c *command) deployOne(ctx context.Context, h config.Host) ([]deploy.HostResult, error) {
	hr := deploy.HostResult{Host: h}
	emit := func(phase, step string, err error) {}
	if c.g.JSON {
		enc := json.NewEncoder(c.stdout)
		emit = func(phase, step string, err error) {
			ev := deploy.FleetEvent{Host: h.String(), Phase: phase, Step: step, Time: time.Now().UTC()}
			if err != nil {
				ev.Error = err.Error()
			}
			_ = enc.Encode(ev)
		}
	}
	emit("connect", "", nil)
	err := c.withConn(ctx, h, func(conn deploy.Conn) error {
		o := c.options(h, c.remoteOut())
		var switched atomic.Bool
		stop := context.AfterFunc(ctx, func() {
			if switched.Load() {
				fmt.Fprintln(c.stderr, "interrupted after the switch: the server is finishing the restart and health gate, and rolls back if they fail; Ctrl-C again stops waiting (then check with 'deploy "+c.env.Name+" status')")
			}
		})
		defer stop()
		o.OnStep = func(step string) {
			if step == "switch" {
				switched.Store(true)
			}
			emit("step", step, nil)
			if !c.g.JSON {
				fmt.Fprintf(c.stdout, "==> %s\n", step)
			}
		}
		res, err := deploy.Deploy(ctx, conn, c.env, o)
		hr.Result = res
		if err == nil && res.Reverted {
			err = fmt.Errorf("deployed %s but the test hook failed: reverted to %s", short(res.NewSHA), short(res.OldSHA))
		}
		if err != nil {
			return err
		}
		if !c.g.JSON {
			writeDeployed(c.stdout, c.stderr, c.env.Name, h, res)
		}
		return nil
	})
	hr.Outcome = deploy.SwitchedOutcome(hr.Result)
	var unknown *deploy.OutcomeUnknownError
	switch {
	case errors.As(err, &unknown):
		hr.Outcome, hr.Err = "unknown", err
	case err != nil && hr.Result != nil && hr.Result.Reverted:
		hr.Outcome, hr.Err = "reverted", err
	case err != nil:
		hr.Outcome, hr.Err = "failed", err
	}
	if err != nil {
		emit("failed", "", err)
	} else {
		emit("done", "", nil)
	}
	return []deploy.HostResult{hr}, err
}

// writeDeployed reports a switched release: "deployed" only when its gate
// showed that it serves; otherwise it says that nothing checked it, why,
// and how to check it now.
func writeDeployed(stdout, stderr io.Writer, env string, h config.Host, res *deploy.Result) {
	took := res.Duration.Round(msRound)
	if res.Gate != deploy.GateUnchecked {
		fmt.Fprintf(stdout, "deployed %s -> %s (%s) to %s in %s\n",
			short(res.OldSHA), short(res.NewSHA), res.NewRelease, h, took)
		return
	}
	fmt.Fprintf(stdout, "switched %s -> %s (%s) on %s in %s, UNCHECKED: nothing showed that it serves\n",
		short(res.OldSHA), short(res.NewSHA), res.NewRelease, h, took)
	fmt.Fprintf(stderr, "warning: %s\n%s", res.GateReason, uncheckedHint(env))
}

// uncheckedHint says how to look at, and undo, a release nothing checked.
func uncheckedHint(env string) string {
	return fmt.Sprintf("hint: look with 'deploy %s status'; roll back with 'deploy %s revert'\n", env, env)
}

// warnUnchecked says which hosts of a fleet run a release that nothing
// checked, and why.
func warnUnchecked(w io.Writer, env string, sum deploy.Summary) {
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
