package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/deploytool/deploy/deploy/config"
)

// FleetOptions configure a deploy to every host of an env.
type FleetOptions struct {
	// Options are the per-host options; Host, Stdout, Hold and OnStep are
	// set per host by the fleet.
	Options
	// Dial opens the one connection a host's deploy uses. Required.
	Dial func(ctx context.Context, h config.Host) (Conn, error)
	// Output returns the writer for a host's remote output (nil = discard).
	Output func(h config.Host) io.Writer
	// NoRollback keeps the hosts that switched and passed their gate when
	// a later host fails (false = put them back on their previous
	// release). The host whose gate failed is put back either way: its
	// new release does not serve.
	NoRollback bool
	// OnEvent is called for every host event, for live lines and --json
	// (nil = none). It may be called from several goroutines at once.
	OnEvent func(FleetEvent)
}

// FleetEvent is one thing that happened on one host.
type FleetEvent struct {
	// Host is the host as written in the config (Host.String()).
	Host string `json:"host"`
	// Phase is connect, prepare, step (a remote step started: see Step),
	// prepared, switch, gate (restarted and passed its gate, held),
	// commit, done (committed), revert, abort or failed.
	Phase string `json:"phase"`
	// Step is the remote step for phase step, or where a host stopped for
	// failed and abort ("" otherwise).
	Step string `json:"step,omitempty"`
	// Error is the error's text for failed, abort, done and revert ("" = none).
	Error string `json:"error,omitempty"`
	// Time is when it happened, UTC.
	Time time.Time `json:"time"`
}

// hostRun is one host's rollout in progress. Only the goroutine working
// on the host touches it until the phase's WaitGroup is done.
type hostRun struct {
	res     HostResult
	conn    Conn
	rollout *Rollout
}

func (r *hostRun) switched() bool { return r.res.Result != nil && r.res.Result.Switched }

// DeployFleet deploys env to all its hosts in two phases, so that hosts
// never stay on mixed versions:
//
//  1. prepare: every host is dialled and prepares its release (lock,
//     fetch, checkout, shared, pre-deploy). At most env.Parallel
//     (0 = DefaultParallel) hosts dial and prepare at once; a prepared
//     host then waits, holding its connection and its lock, so a deploy
//     to N hosts keeps N connections open until the end. If any host
//     fails (or ctx ends), the preparations still running are cancelled
//     and every prepared release is discarded: no host switches.
//  2. switch: hosts switch, restart and pass their health gate (see
//     Rollout.Switch) in batches of env.Batch (0 = all at once), each
//     held at its gate until every batch passed; then all commit. When a
//     gate fails, or ctx ends, no further batch starts, the failed host
//     and (unless NoRollback) every switched host is put back on its
//     previous release and restarted, and the rest are aborted.
//
// Once the first phase succeeded the remote commands outlive ctx, so that
// an interrupt still ends every host on one consistent release. The
// results list every host, in env.Hosts order, with its Outcome; the
// error is a *FleetError naming the host that failed and why.
func DeployFleet(ctx context.Context, env *config.Env, fo FleetOptions) ([]HostResult, error) {
	if fo.Dial == nil {
		return nil, errors.New("deploy to several hosts: no way to dial them (FleetOptions.Dial is nil)")
	}
	if len(env.Hosts) == 0 {
		return nil, fmt.Errorf("env %s has no hosts: set host or hosts", env.Name)
	}
	if fo.Stamp == "" {
		fo.Stamp = time.Now().UTC().Format(stampLayout) // one release name on every host
	}
	runs := make([]*hostRun, len(env.Hosts))
	for i, h := range env.Hosts {
		runs[i] = &hostRun{res: HostResult{Host: h}}
	}
	defer func() {
		for _, r := range runs {
			if r.conn != nil {
				_ = r.conn.Close()
			}
		}
	}()
	sess, cancelSess := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSess()
	if err := prepareAll(ctx, sess, cancelSess, env, fo, runs); err != nil {
		finish(runs, func(r *hostRun) { abortHost(r, fo) })
		return results(runs), fleetError(err, runs)
	}
	if err := releaseOnFirst(env, fo, runs); err != nil {
		finish(runs, func(r *hostRun) { abortHost(r, fo) })
		return results(runs), fleetError(err, runs)
	}
	if err := switchBatches(ctx, env, fo, runs); err != nil {
		finish(runs, func(r *hostRun) {
			switch {
			case r.switched() && (r.res.Err != nil || !fo.NoRollback):
				revertHost(r, fo)
			case r.switched():
				commitHost(r, fo)
			default:
				abortHost(r, fo)
			}
		})
		return results(runs), fleetError(err, runs)
	}
	finish(runs, func(r *hostRun) { commitHost(r, fo) })
	for _, r := range runs {
		if r.res.Err != nil {
			return results(runs), fleetError(&FleetError{Phase: "commit", Host: r.res.Host.String(), Err: r.res.Err}, runs)
		}
	}
	return results(runs), nil
}

// prepareAll dials and prepares every host, env.Parallel at a time. The
// first failure (or ctx ending) cancels sess: the preparations still
// running abort, and hosts not yet started are skipped.
func prepareAll(ctx, sess context.Context, cancelSess context.CancelFunc, env *config.Env, fo FleetOptions, runs []*hostRun) error {
	stop := context.AfterFunc(ctx, cancelSess)
	defer stop()
	var mu sync.Mutex
	var first error
	EachHost(sess, env, func(sess context.Context, i int, _ config.Host) {
		r := runs[i]
		if sess.Err() != nil {
			r.res.Outcome = OutcomeAborted
			return
		}
		if err := prepareHost(sess, env, fo, r); err != nil {
			mu.Lock()
			if first == nil {
				first = &FleetError{Phase: "prepare", Host: r.res.Host.String(), Err: err}
			}
			mu.Unlock()
			cancelSess()
		}
	})
	if ctx.Err() != nil {
		return &FleetError{Phase: "prepare", Err: fmt.Errorf("interrupted: %w", ctx.Err()), Interrupted: true}
	}
	return first
}

// prepareHost dials h and prepares its release. It returns an error only
// when the host itself failed; a host stopped because sess ended is
// marked aborted.
func prepareHost(sess context.Context, env *config.Env, fo FleetOptions, r *hostRun) error {
	h := r.res.Host
	emit(fo, h, "connect", "", nil)
	conn, err := fo.Dial(sess, h)
	if err != nil {
		return r.prepareFailed(sess, fo, "connect", err)
	}
	r.conn = conn
	o := fo.Options
	o.Host, o.Hold = h.String(), true
	// release-command (migrations) runs once, on the first host, when
	// every host is prepared (releaseOnFirst)
	o.OtherRunsRelease = h.String() != env.Hosts[0].String()
	o.Stdout = nil
	if fo.Output != nil {
		o.Stdout = fo.Output(h)
	}
	o.OnStep = func(step string) { emit(fo, h, "step", step, nil) }
	emit(fo, h, "prepare", "", nil)
	rollout, res, err := Prepare(sess, conn, env, o)
	r.res.Result = res
	if err != nil {
		return r.prepareFailed(sess, fo, "prepare", err)
	}
	r.rollout = rollout
	emit(fo, h, "prepared", "", nil)
	return nil
}

func (r *hostRun) prepareFailed(sess context.Context, fo FleetOptions, phase string, err error) error {
	if sess.Err() != nil {
		r.res.Outcome = OutcomeAborted
		emit(fo, r.res.Host, "abort", phase, nil)
		return nil
	}
	r.res.Err, r.res.Outcome = err, OutcomeFailed
	emit(fo, r.res.Host, "failed", phase, err)
	return err
}

// releaseOnFirst runs the env's release-command (migrations: one database
// for the fleet) on the first host, once every host is prepared and
// before any switches, as Capistrano migrates once every server is
// updated; the other hosts were prepared without it.
func releaseOnFirst(env *config.Env, fo FleetOptions, runs []*hostRun) error {
	if env.ReleaseCommand == "" || len(runs) == 0 {
		return nil
	}
	r := runs[0]
	emit(fo, r.res.Host, "release", "", nil)
	res, err := r.rollout.Release()
	r.res.Result = res
	if err != nil {
		r.res.Err, r.res.Outcome = err, OutcomeFailed
		r.rollout = nil // the server ended the deploy
		emit(fo, r.res.Host, "failed", "release", err)
		return &FleetError{Phase: "release", Host: r.res.Host.String(), Err: err}
	}
	return nil
}

// switchBatches switches and restarts the hosts batch by batch; each host
// stops at its gate, held, until every batch passed. It stops at the
// first failed host, or when ctx ends between batches.
func switchBatches(ctx context.Context, env *config.Env, fo FleetOptions, runs []*hostRun) error {
	batch := env.Batch
	if batch <= 0 || batch > len(runs) {
		batch = len(runs)
	}
	done := 0
	for start := 0; start < len(runs); start += batch {
		if ctx.Err() != nil {
			return &FleetError{Phase: "switch", Interrupted: true,
				Err: fmt.Errorf("interrupted after %d of %d hosts switched: %w", done, len(runs), ctx.Err())}
		}
		end := min(start+batch, len(runs))
		var wg sync.WaitGroup
		for _, r := range runs[start:end] {
			wg.Add(1)
			go func() { defer wg.Done(); switchHost(r, fo) }()
		}
		wg.Wait()
		for _, r := range runs[start:end] {
			if r.res.Err != nil {
				return &FleetError{Phase: "switch", Host: r.res.Host.String(), Err: r.res.Err}
			}
			done++
		}
	}
	if ctx.Err() != nil {
		return &FleetError{Phase: "switch", Interrupted: true,
			Err: fmt.Errorf("interrupted before the commit: %w", ctx.Err())}
	}
	return nil
}

func switchHost(r *hostRun, fo FleetOptions) {
	emit(fo, r.res.Host, "switch", "", nil)
	res, err := r.rollout.Switch()
	r.res.Result = res
	if err != nil {
		r.res.Err, r.res.Outcome = err, OutcomeFailed
		if !res.Switched || res.Gate != GateFailed {
			// the server ended the command: nothing left to tell it
			r.rollout = nil
		}
		emit(fo, r.res.Host, "failed", "switch", err)
		return
	}
	emit(fo, r.res.Host, "gate", "", nil)
}

// finish ends every host still held, in parallel.
func finish(runs []*hostRun, end func(*hostRun)) {
	var wg sync.WaitGroup
	for _, r := range runs {
		if r.rollout == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); end(r) }()
	}
	wg.Wait()
}

func abortHost(r *hostRun, fo FleetOptions) {
	err := r.rollout.Abort()
	r.rollout = nil
	if r.res.Outcome == "" {
		r.res.Outcome = OutcomeAborted
	}
	if err != nil && r.res.Err == nil {
		r.res.Err, r.res.Outcome = err, OutcomeFailed
	}
	emit(fo, r.res.Host, "abort", "", err)
}

func commitHost(r *hostRun, fo FleetOptions) {
	emit(fo, r.res.Host, "commit", "", nil)
	res, err := r.rollout.Commit()
	r.rollout = nil
	r.res.Result = res
	if r.res.Err == nil {
		r.res.Outcome = SwitchedOutcome(res)
	}
	if err != nil && r.res.Err == nil {
		r.res.Err, r.res.Outcome = err, OutcomeFailed
	}
	emit(fo, r.res.Host, "done", "", err)
}

func revertHost(r *hostRun, fo FleetOptions) {
	res, err := r.rollout.Revert()
	r.rollout = nil
	r.res.Result = res
	if r.res.Err == nil {
		r.res.Outcome = OutcomeReverted
	}
	if err != nil && r.res.Err == nil {
		r.res.Err, r.res.Outcome = err, OutcomeFailed
	}
	emit(fo, r.res.Host, "revert", "", err)
}

func emit(fo FleetOptions, h config.Host, phase, step string, err error) {
	if fo.OnEvent == nil {
		return
	}
	ev := FleetEvent{Host: h.String(), Phase: phase, Step: step, Time: time.Now().UTC()}
	if err != nil {
		ev.Error = err.Error()
	}
	fo.OnEvent(ev)
}
