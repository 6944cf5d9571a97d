package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/deploytool/deploy/deploy/config"
)

// OutcomeUnknown: the client lost the host after the switch, so whether
// it kept the new release or rolled back is not known (see
// OutcomeUnknownError); `deploy <env> status` tells.
const OutcomeUnknown = "unknown"

// Run deploys env to all its hosts and is what `deploy <env>` calls. One
// host runs the single-host protocol (Deploy: switch, gate and commit in
// one remote command); several run the fleet's two-phase protocol
// (DeployFleet). Both report progress as the same FleetEvents through
// fo.OnEvent (connect, step…, then done or failed for one host) and end
// with one HostResult per host, in env.Hosts order, with its Outcome.
//
// For one host, fo.Output (when set) gives its remote output's writer,
// else fo.Options.Stdout is used as is.
func Run(ctx context.Context, env *config.Env, fo FleetOptions) ([]HostResult, error) {
	if len(env.Hosts) != 1 {
		return DeployFleet(ctx, env, fo)
	}
	if fo.Dial == nil {
		return nil, errors.New("deploy: no way to dial the host (FleetOptions.Dial is nil)")
	}
	h := env.Hosts[0]
	hr := HostResult{Host: h}
	emit(fo, h, "connect", "", nil)
	err := runOne(ctx, env, fo, &hr)
	hr.Outcome = singleOutcome(hr.Result, err)
	if err != nil {
		hr.Err = err
		emit(fo, h, "failed", "", err)
	} else {
		emit(fo, h, "done", "", nil)
	}
	return []HostResult{hr}, err
}

// runOne dials the env's only host and deploys it, filling hr.Result as
// far as the host got. A release the test hook reverted is an error.
func runOne(ctx context.Context, env *config.Env, fo FleetOptions, hr *HostResult) error {
	h := hr.Host
	conn, err := fo.Dial(ctx, h)
	if err != nil {
		return err
	}
	defer conn.Close()
	o := fo.Options
	o.Host = h.String()
	if fo.Output != nil {
		o.Stdout = fo.Output(h)
	}
	o.OnStep = func(step string) { emit(fo, h, "step", step, nil) }
	res, err := Deploy(ctx, conn, env, o)
	hr.Result = res
	if err == nil && res.Reverted {
		err = fmt.Errorf("deployed %s but the test hook failed: reverted to %s", ShortSHA(res.NewSHA), ShortSHA(res.OldSHA))
	}
	return err
}

// singleOutcome is the Outcome of a single-host deploy that ended with err.
func singleOutcome(res *Result, err error) string {
	var unknown *OutcomeUnknownError
	switch {
	case errors.As(err, &unknown):
		return OutcomeUnknown
	case err != nil && res != nil && res.Reverted:
		return OutcomeReverted
	case err != nil:
		return OutcomeFailed
	}
	return SwitchedOutcome(res)
}

// EachHost runs fn for every host of env, at most env.Parallel
// (0 = config.DefaultParallel) at once, and returns when all ended. fn
// gets the host's index, so results can be kept in config order. When
// ctx ends, the hosts still waiting for a slot are called at once with
// the ended ctx, so that each can say it did not run.
func EachHost(ctx context.Context, env *config.Env, fn func(ctx context.Context, i int, h config.Host)) {
	n := env.Parallel
	if n <= 0 {
		n = config.DefaultParallel
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, h := range env.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			fn(ctx, i, h)
		}()
	}
	wg.Wait()
}
