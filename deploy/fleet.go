package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// FleetOptions configure a deploy to every host of an env.
type FleetOptions struct {
	// Options are the per-host options; Host, Stdout and Hold are set per
	// host by the fleet.
	Options
	// Dial opens the one connection a host's deploy uses. Required.
	Dial func(ctx context.Context, h Host) (Conn, error)
	// Output returns the writer for a host's remote output (nil = discard).
	Output func(h Host) io.Writer
	// NoRollback keeps hosts that switched when a later gate fails
	// (false = put them back on their previous release).
	NoRollback bool
	// OnEvent is called for every host event, for live lines and --json
	// (nil = none). It may be called from several goroutines at once.
	OnEvent func(FleetEvent)
}

// FleetEvent is one thing that happened on one host.
type FleetEvent struct {
	Host  string    `json:"host"`
	Phase string    `json:"phase"` // connect, prepare, step, prepared, switch, gate, commit, revert, abort, done, failed
	Step  string    `json:"step,omitempty"`
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
}

// HostResult is what happened on one host of a fleet deploy.
type HostResult struct {
	// Host is the host, as written in the config.
	Host Host
	// Result is the remote result, filled as far as the host got (nil when
	// it could not be reached).
	Result *Result
	// Err is why the host failed (nil = it deployed, or was aborted or
	// reverted because another host failed: see Result).
	Err error
	// Outcome is "deployed", "aborted", "reverted" or "failed".
	Outcome string
}

// hostRun is one host's rollout in progress.
type hostRun struct {
	res     HostResult
	conn    Conn
	rollout *Rollout
}

// DeployFleet deploys env to all its hosts in two phases: every host
// prepares (lock, fetch, release, build) with at most env.Parallel doing
// so at once; only when all prepared does any switch. Hosts then switch
// and restart in batches of env.Batch, each held at its health gate until
// every batch passed; a failed gate puts every switched host back (unless
// NoRollback) and aborts the rest. ctx ending stops the same way: before
// the switch nothing moves; after, switched hosts are put back.
func DeployFleet(ctx context.Context, env *Env, fo FleetOptions) ([]HostResult, error) {
	runs := make([]*hostRun, len(env.Hosts))
	for i, h := range env.Hosts {
		runs[i] = &hostRun{res: HostResult{Host: h}}
	}
	defer func() {
		for _, r := range runs {
			if r.conn != nil {
				r.conn.Close()
			}
		}
	}()
	// Sessions outlive ctx once prepared, so that an interrupt can still
	// put hosts back in order rather than leave them half-switched.
	sess, cancelSess := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSess()
	if err := prepareAll(ctx, sess, cancelSess, env, fo, runs); err != nil {
		finish(runs, fo, func(r *hostRun) { abortHost(r, fo) })
		return results(runs), err
	}
	switched, err := switchBatches(ctx, env, fo, runs)
	if err != nil {
		finish(runs, fo, func(r *hostRun) {
			if r.res.Result != nil && r.res.Result.Switched && !fo.NoRollback {
				revertHost(r, fo)
				return
			}
			if r.res.Result != nil && r.res.Result.Switched {
				commitHost(r, fo)
				return
			}
			abortHost(r, fo)
		})
		_ = switched
		return results(runs), err
	}
	finish(runs, fo, func(r *hostRun) { commitHost(r, fo) })
	for _, r := range runs {
		if r.res.Err != nil {
			return results(runs), fmt.Errorf("deploy finished with errors on %s", r.res.Host)
		}
	}
	return results(runs), nil
}

func results(runs []*hostRun) []HostResult {
	out := make([]HostResult, len(runs))
	for i, r := range runs {
		out[i] = r.res
	}
	return out
}

// prepareAll dials and prepares every host, env.Parallel at a time. The
// first failure (or ctx ending) cancels the preparations still running.
func prepareAll(ctx, sess context.Context, cancelSess context.CancelFunc, env *Env, fo FleetOptions, runs []*hostRun) error {
	parallel := env.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	stop := context.AfterFunc(ctx, cancelSess)
	defer stop()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if sess.Err() != nil {
				r.res.Outcome = "aborted"
				return
			}
			if err := prepareHost(sess, env, fo, r); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancelSess()
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("interrupted before the switch: no host switched: %w", ctx.Err())
	}
	return first
}

func prepareHost(ctx context.Context, env *Env, fo FleetOptions, r *hostRun) error {
	h := r.res.Host
	emit(fo, h, "connect", "", nil)
	conn, err := fo.Dial(ctx, h)
	if err != nil {
		r.res.Err, r.res.Outcome = err, "failed"
		emit(fo, h, "failed", "connect", err)
		return fmt.Errorf("%s: %w", h, err)
	}
	r.conn = conn
	o := fo.Options
	o.Host, o.Hold = h.String(), true
	if fo.Output != nil {
		o.Stdout = fo.Output(h)
	}
	o.OnStep = func(step string) { emit(fo, h, "step", step, nil) }
	emit(fo, h, "prepare", "", nil)
	rollout, res, err := Prepare(ctx, conn, env, o)
	r.res.Result = res
	if err != nil {
		if ctx.Err() != nil && !isStepError(err) {
			r.res.Outcome = "aborted"
			return err
		}
		r.res.Err, r.res.Outcome = err, "failed"
		emit(fo, h, "failed", "prepare", err)
		return err
	}
	r.rollout = rollout
	emit(fo, h, "prepared", "", nil)
	return nil
}

func isStepError(err error) bool {
	var se *StepError
	return errors.As(err, &se)
}

// switchBatches switches and restarts the hosts batch by batch; each host
// stops at its gate, held, until every batch passed.
func switchBatches(ctx context.Context, env *Env, fo FleetOptions, runs []*hostRun) (int, error) {
	batch := env.Batch
	if batch <= 0 || batch > len(runs) {
		batch = len(runs)
	}
	done := 0
	for start := 0; start < len(runs); start += batch {
		if ctx.Err() != nil {
			return done, fmt.Errorf("interrupted after %d of %d hosts switched: %w", done, len(runs), ctx.Err())
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
				return done, fmt.Errorf("%s: %w", r.res.Host, r.res.Err)
			}
			done++
		}
	}
	return done, nil
}

func switchHost(r *hostRun, fo FleetOptions) {
	emit(fo, r.res.Host, "switch", "", nil)
	res, err := r.rollout.Switch()
	r.res.Result = res
	if err != nil {
		r.res.Err, r.res.Outcome = err, "failed"
		r.rollout = nil // the server ended the session: nothing left to tell it
		emit(fo, r.res.Host, "failed", "switch", err)
		return
	}
	emit(fo, r.res.Host, "gate", "", nil)
}

// finish ends every host still held, in parallel.
func finish(runs []*hostRun, fo FleetOptions, end func(*hostRun)) {
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
		r.res.Outcome = "aborted"
	}
	if err != nil && r.res.Err == nil {
		r.res.Err = err
	}
	emit(fo, r.res.Host, "abort", "", err)
}

func commitHost(r *hostRun, fo FleetOptions) {
	res, err := r.rollout.Commit()
	r.rollout = nil
	r.res.Result = res
	r.res.Outcome = "deployed"
	if err != nil {
		r.res.Err, r.res.Outcome = err, "failed"
	}
	emit(fo, r.res.Host, "done", "", err)
}

func revertHost(r *hostRun, fo FleetOptions) {
	res, err := r.rollout.Revert()
	r.rollout = nil
	r.res.Result = res
	r.res.Outcome = "reverted"
	if err != nil && r.res.Err == nil {
		r.res.Err = err
	}
	emit(fo, r.res.Host, "revert", "", err)
}

func emit(fo FleetOptions, h Host, phase, step string, err error) {
	if fo.OnEvent == nil {
		return
	}
	ev := FleetEvent{Host: h.String(), Phase: phase, Step: step, Time: time.Now().UTC()}
	if err != nil {
		ev.Error = err.Error()
	}
	fo.OnEvent(ev)
}
