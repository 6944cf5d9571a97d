package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// Result is what a deploy or revert did on one host. Deploy and Rollout's
// methods return it even with an error, filled as far as the host got.
type Result struct {
	// Host is Options.Host.
	Host string
	// OldRelease and OldSHA are what current pointed at before ("" = nothing).
	OldRelease, OldSHA string
	// NewRelease and NewSHA are the release made (deploy) or relinked
	// (revert); "" when it failed before getting there.
	NewRelease, NewSHA string
	// Switched is true once current pointed at NewRelease.
	Switched bool
	// Reverted is true when current was put back to OldRelease after the
	// switch (a failed health gate or test hook, or Rollout.Revert).
	Reverted bool
	// Gate is the health gate's verdict on the new release: GatePassed,
	// GateFailed, GateUnchecked (nothing could check it: neither procmon
	// nor healthcheck is set, or procmon is not running yet on a first
	// deploy), or "" when it was not reached.
	Gate string
	// GateReason says why the gate failed (procmon's status, the
	// healthcheck's last answer) or why the release is unchecked; "" when
	// it passed.
	GateReason string
	// Duration is the wall time of the whole remote command.
	Duration time.Duration
	// Steps are the remote steps in order, with their times.
	Steps []Step
	// Pushed is what source push sent this host (nil: nothing was pushed).
	Pushed *Sent
	// Uploaded is what build local's upload sent this host (nil: no
	// artifact).
	Uploaded *Uploaded
	// Built lists what `build auto` detected and how each stack's
	// dependencies came, in build order (nil = no build auto).
	Built []Built
	// PruneFailed lists the old releases the prune could not remove (the
	// script's output says why): a warning, the deploy is not failed.
	PruneFailed []string
}

// The health gate's verdicts, in Result.Gate.
const (
	GatePassed = "passed"
	GateFailed = "failed"
	// GateUnchecked: the release is live but nothing showed that it
	// serves; GateReason says why and what to set.
	GateUnchecked = "unchecked"
)

// Rollout is one host's deploy in progress: the release is built and the
// server waits for Switch or Abort (the first phase of a two-phase deploy
// across hosts). With Options.Hold it waits again after the restart for
// Commit or Revert (the health gate). Methods must be called from one
// goroutine.
type Rollout struct {
	s        *session
	o        Options
	env      string // the env's name, for hints
	mu       sync.Mutex
	res      Result
	prepared chan struct{}
	released chan struct{}
	gate     chan struct{}
	once     [3]sync.Once
	haves    []string      // the mirror's ref tips (push)
	need     map[int]bool  // the manifest lines to send (build local)
	shipErr  error         // why sending the pack or the upload failed
	started  chan struct{} // closed once s is set
}

// Prepare starts a deploy of env on the host behind conn and returns when
// the new release is built (lock, fetch, checkout, shared links,
// pre-deploy) and the server waits for the switch. On error nothing was
// switched: the half-made release is removed and logged `failed`, the lock
// freed. If ctx ends before the switch the server aborts the same way.
func Prepare(ctx context.Context, conn Conn, env *config.Env, o Options) (*Rollout, *Result, error) {
	args, err := deployArgs(env, o)
	if err != nil {
		return nil, &Result{Host: o.Host}, err
	}
	r := &Rollout{o: o, env: env.Name, prepared: make(chan struct{}), released: make(chan struct{}), gate: make(chan struct{}), started: make(chan struct{})}
	r.res.Host = o.Host
	s, err := startSessionGrace(ctx, conn, "deploy", args, o.Stdout, r.onEvent, o.AbortGrace)
	if err != nil {
		return nil, &Result{Host: o.Host}, err
	}
	r.s = s
	close(r.started)
	if o.Artifact != nil {
		manifest := o.Artifact.manifest()
		go r.ship(func() error { return s.sendBlob("manifest", strings.NewReader(manifest), int64(len(manifest))) })
	}
	select {
	case <-r.prepared:
		r.printShipped()
		return r, r.result(), nil
	case <-s.done:
		err := r.s.wait()
		r.mu.Lock()
		shipErr := r.shipErr
		r.mu.Unlock()
		if shipErr != nil {
			err = shipErr // the cause: the server only saw the channel close
		}
		return nil, r.result(), r.wrap(err, "the server ended before the release was prepared")
	}
}

// ship runs one step of sending what ships from the laptop (the pack, the
// manifest, the tar) on the control channel. A failure is kept as the
// deploy's error, and closing the channel makes the server stop before
// anything changed.
func (r *Rollout) ship(send func() error) {
	<-r.started // r.s is set: events can come before startSessionGrace returns
	if err := send(); err != nil {
		step := "push"
		if r.o.Artifact != nil {
			step = "upload"
		}
		r.mu.Lock()
		if r.shipErr == nil {
			r.shipErr = &StepError{Step: step, Message: err.Error() + ": nothing was changed on the server"}
		}
		r.mu.Unlock()
		r.s.closeControl()
	}
}

// printShipped says what the push or the upload sent.
func (r *Rollout) printShipped() {
	r.mu.Lock()
	pushed, uploaded := r.res.Pushed, r.res.Uploaded
	r.mu.Unlock()
	if r.o.Stdout == nil {
		return
	}
	if pushed != nil {
		fmt.Fprintln(r.o.Stdout, pushed.String(r.o.Push.Commit.SHA))
	}
	if uploaded != nil {
		fmt.Fprintln(r.o.Stdout, uploaded.String())
	}
}

// Deploy deploys env's ref (or Options.Ref) to the host behind conn: one
// remote command over one connection, from lock to unlock. It returns the
// Result, filled as far as it got, and an error naming the failed step
// with its output (a *StepError) when it failed. A failure or ctx ending
// before the switch leaves current untouched.
func Deploy(ctx context.Context, conn Conn, env *config.Env, o Options) (*Result, error) {
	o.Hold = false
	r, res, err := Prepare(ctx, conn, env, o)
	if err != nil {
		return res, err
	}
	if ctx.Err() != nil {
		_ = r.Abort()
		return r.result(), fmt.Errorf("interrupted before the switch: current is unchanged")
	}
	return r.Switch()
}

// Switch tells the server to switch current to the prepared release, then
// restart it and run the health gate (env.Procmon: `procmon reload --wait`;
// else restart-file, then env.Healthcheck polled from the server) and the
// test hook. Without Options.Hold a failed gate or test puts the previous
// release back and Switch returns a *StepError (step gate or test) once
// the deploy is over (pruned, unlocked). With Hold it returns once the
// host restarted and waits for Commit or Revert: with a nil error when the
// gate passed, or a *StepError for step gate (the reason, and procmon's or
// the healthcheck's last output lines) while the host still waits.
// Once Switch is called, the ctx given to Prepare no longer aborts the
// script: an interrupt after the switch lets the server finish the
// restart, the gate and, when they fail, the rollback.
func (r *Rollout) Switch() (*Result, error) {
	r.s.detach() // past this point an interrupt must not cut the gate or its rollback short
	if err := r.s.send("switch"); err != nil {
		err = r.s.wait()
		return r.result(), r.wrap(err, "the server ended before the switch")
	}
	if r.o.Hold {
		select {
		case <-r.gate:
			res := r.result()
			if res.Gate == GateFailed {
				return res, r.wrap(&StepError{Step: "gate", Message: res.GateReason, Output: r.s.tailLines()}, "")
			}
			return res, nil
		case <-r.s.done:
		}
	}
	err := r.s.wait()
	res := r.result()
	return res, r.wrap(unknownAfterSwitch(r.env, res, err), "")
}

// Release runs the env's release-command on a held deploy prepared with
// it (a fleet's first host), once every host is prepared, and returns
// when it ran; the server then waits for Switch or Abort again. On error
// the server ended the deploy: nothing switched, the release is gone.
func (r *Rollout) Release() (*Result, error) {
	if err := r.s.send("release"); err != nil {
		return r.result(), r.wrap(r.s.wait(), "the server ended before the release-command")
	}
	select {
	case <-r.released:
		return r.result(), nil
	case <-r.s.done:
	}
	return r.result(), r.wrap(r.s.wait(), "the server ended before the release-command finished")
}

// OutcomeUnknownError is a connection lost after the switch, before the
// server reported how the deploy ended. The server goes on by itself (the
// gate, and the rollback when it fails), so the release may be live or
// may have been put back: only the server can tell.
type OutcomeUnknownError struct {
	// Env is the env deployed (for the hint).
	Env string
	// Release is the release switched to before the connection was lost.
	Release string
	// Err is the transport's error.
	Err error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("the connection was lost after the switch to %s was asked for: the server finishes the switch and the gate on its own and rolls back if the gate fails, so the outcome is unknown here (%v)", e.Release, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// Hint says how to find the outcome.
func (e *OutcomeUnknownError) Hint() string {
	return fmt.Sprintf("see where the host ended with 'deploy %s status' (and 'deploy %s list')", e.Env, e.Env)
}

// unknownAfterSwitch turns a transport error after the switch decision
// was sent, with no report from the script, into an OutcomeUnknownError:
// whether or not the script's `switched` line made it back before the
// link died, the server may have switched (and then finishes the gate on
// its own), so a plain failure would be a guess, and a wrong one when the
// release is live (TestSwitchSentThenLinkDiedIsUnknown).
func unknownAfterSwitch(env string, res *Result, err error) error {
	var se *StepError
	if err == nil || res.Reverted || errors.As(err, &se) {
		return err
	}
	return &OutcomeUnknownError{Env: env, Release: res.NewRelease, Err: err}
}

// Abort tells the server not to switch: it removes the prepared release,
// logs it `failed` and frees the lock. It returns nil when that is what
// happened.
func (r *Rollout) Abort() error {
	_ = r.s.send("abort")
	r.s.closeControl()
	err := r.s.wait()
	var se *StepError
	if errors.As(err, &se) && se.Step == "prepared" {
		return nil
	}
	return r.wrap(err, "")
}

// Commit ends a held deploy (Options.Hold) after a passed health gate:
// the server prunes old releases and frees the lock.
func (r *Rollout) Commit() (*Result, error) {
	if err := r.s.send("commit"); err != nil {
		err = r.s.wait()
		return r.result(), r.wrap(err, "the server ended before the commit")
	}
	err := r.s.wait()
	return r.result(), r.wrap(err, "")
}

// Revert ends a held deploy (Options.Hold) by putting current back to the
// release it replaced, logging `revert` and restarting that release.
func (r *Rollout) Revert() (*Result, error) {
	if err := r.s.send("revert"); err != nil {
		err = r.s.wait()
		return r.result(), r.wrap(err, "the server ended before the revert")
	}
	err := r.s.wait()
	return r.result(), r.wrap(err, "")
}

// onEvent records what the script reports into the result, and wakes
// Prepare and Switch at the prepared and gate lines.
func (r *Rollout) onEvent(ev script.Message) {
	if ev.Kind == script.KindStep && r.o.OnStep != nil {
		r.o.OnStep(ev.Rest)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &r.res
	switch ev.Kind {
	case script.KindHave:
		r.haves = append(r.haves, ev.Field(0))
	case script.KindNeed:
		if n, err := strconv.Atoi(ev.Field(0)); err == nil && n > 0 {
			if r.need == nil {
				r.need = map[int]bool{}
			}
			r.need[n-1] = true
		}
	case script.KindInfo:
		r.onInfo(ev)
	case script.KindPrepared:
		r.once[0].Do(func() { close(r.prepared) })
	case script.KindReleased:
		r.once[2].Do(func() { close(r.released) })
	case script.KindSwitched:
		res.Switched = true
	case script.KindReverted:
		res.Reverted = true
	case script.KindGate:
		if res.Gate != GateUnchecked {
			res.Gate = GatePassed
		}
		if ev.Field(2) == "fail" {
			res.Gate, res.GateReason = GateFailed, ev.After(3)
		}
		r.once[1].Do(func() { close(r.gate) })
	case script.KindFail:
		if ev.Field(0) == "gate" {
			res.Gate = GateFailed
			res.GateReason = cmp.Or(res.GateReason, ev.After(1))
		}
	case script.KindDone:
		if res.Switched && !res.Reverted && res.Gate == "" {
			res.Gate = GatePassed
		}
	}
}

// onInfo records an `info` line: the old and new releases, and why a
// release could not be checked.
func (r *Rollout) onInfo(ev script.Message) {
	res := &r.res
	switch ev.Field(0) {
	case script.InfoOld:
		res.OldRelease, res.OldSHA = ev.Field(1), ev.Field(2)
	case script.InfoNew:
		res.NewRelease, res.NewSHA = ev.Field(1), ev.Field(2)
	case script.InfoUnchecked:
		if res.Gate == "" {
			res.Gate, res.GateReason = GateUnchecked, ev.After(1)
		}
	case script.InfoBuild, script.InfoDeps:
		onBuildInfo(res, ev)
	case script.InfoPruneFailed:
		res.PruneFailed = append(res.PruneFailed, ev.Field(1))
	case script.InfoHaves:
		if r.o.Push != nil {
			haves := append([]string(nil), r.haves...)
			go r.ship(func() error { return r.sendPack(haves) })
		}
	case script.InfoReused:
		if r.o.Artifact != nil {
			need := r.need
			reused, _ := strconv.Atoi(ev.Field(1))
			go r.ship(func() error { return r.sendTar(need, reused) })
		}
	}
}

func (r *Rollout) result() *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	if r.s != nil {
		res.Steps = r.s.finishSteps()
		res.Duration = time.Since(r.s.started)
	}
	return &res
}

// wrap names the host in err, and says why when the server ended without
// a report.
func (r *Rollout) wrap(err error, why string) error {
	if err == nil && why != "" {
		err = errors.New(why)
	}
	return hostErr(r.o.Host, err)
}

func hostErr(host string, err error) error {
	if err == nil || host == "" {
		return err
	}
	var se *StepError
	if errors.As(err, &se) {
		se.Host = host
		return err
	}
	return fmt.Errorf("%s: %w", host, err)
}

// stampLayout is the time format that starts a release id.
const stampLayout = "20060102T150405Z"

// deployArgs returns the script arguments of a deploy.
func deployArgs(env *config.Env, o Options) ([]string, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	ref := o.Ref
	if ref == "" {
		ref = env.Ref
	}
	ref, err = config.NormalizeRef(ref)
	if err != nil {
		return nil, fmt.Errorf("env %s: %w", env.Name, err)
	}
	h, err := hookArgs(env)
	if err != nil {
		return nil, err
	}
	args = append(args, h...)
	if !o.OtherRunsRelease {
		r, err := releaseArgs(env)
		if err != nil {
			return nil, err
		}
		args = append(args, r...)
	}
	if o.Push != nil || env.Source == "push" {
		if o.Push == nil || env.Source != "push" {
			return nil, fmt.Errorf("env %s: a push deploy needs both source push and the commit to push (Options.Push)", env.Name)
		}
		p, err := pushArgs(o.Push)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		ref = "" // the pushed commit's own name goes instead
		args = append(args, p...)
	}
	if o.Artifact != nil || env.Build == "local" {
		if o.Artifact == nil || env.Build != "local" {
			return nil, fmt.Errorf("env %s: an artifact deploy needs both build local and the built artifact (Options.Artifact)", env.Name)
		}
		if err := config.CheckRef(o.Artifact.Ref); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		ref = ""
		args = append(args, script.Arg("sha", o.Artifact.SHA), script.Arg("ref", o.Artifact.Ref))
	}
	if env.Build == "auto" {
		args = append(args, script.Arg("build", "auto"))
	}
	// repo goes every time: a changed repo updates the mirror's origin
	// (the script says so) rather than silently fetching the old one.
	if env.Repo != "" {
		if err := config.CheckRepo(env.Repo); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		args = append(args, script.Arg("repo", env.Repo))
	}
	if ref != "" {
		args = append(args, script.Arg("ref", ref))
	}
	g, err := gateArgs(env)
	if err != nil {
		return nil, err
	}
	args = append(args, g...)
	if o.Stamp != "" {
		if _, err := time.Parse(stampLayout, o.Stamp); err != nil || len(o.Stamp) != len(stampLayout) {
			return nil, fmt.Errorf("release stamp %q is not of the form %s", o.Stamp, stampLayout)
		}
		args = append(args, script.Arg("stamp", o.Stamp))
	}
	args = append(args, flag("wait", o.Wait)...)
	args = append(args, flag("no-test", o.NoTests)...)
	return append(args, flag("hold", o.Hold)...), nil
}

// gateArgs returns the health gate's script arguments. A healthcheck that
// is a bare path (/healthz) is tried against procmon's `listen` (read from
// the procmon config on the server), so it needs procmon; without procmon
// the healthcheck must be a URL (http://127.0.0.1:3000/healthz).
func gateArgs(env *config.Env) ([]string, error) {
	var args []string
	if env.Procmon != "" {
		if err := config.CheckField("procmon", env.Procmon); err != nil || strings.ContainsAny(env.Procmon, " \t") {
			return nil, fmt.Errorf("env %s: procmon %q is not a plain path: give the procmon config's path on the server, e.g. /etc/procmon/app.toml", env.Name, env.Procmon)
		}
		args = append(args, script.Arg("procmon", env.Procmon))
	}
	if h := env.Healthcheck; h != "" {
		if err := config.CheckField("healthcheck", h); err != nil || strings.ContainsAny(h, " \t") {
			return nil, fmt.Errorf("env %s: healthcheck %q contains whitespace or control characters: write /healthz or http://127.0.0.1:3000/healthz", env.Name, h)
		}
		if strings.HasPrefix(h, "/") && env.Procmon == "" {
			return nil, fmt.Errorf("env %s: healthcheck %q is a path, and without procmon there is no address to try it on: write a URL such as http://127.0.0.1:3000%s, or set procmon", env.Name, h, h)
		}
		args = append(args, script.Arg("healthcheck", h))
	}
	return args, nil
}
