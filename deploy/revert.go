package deploy

import (
	"context"
	"fmt"
	"strconv"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// Revert puts current back n successful deploys from the release it points
// at (n=1: the deploy before it), computed on the server from .deploys:
// repeating `revert 1` goes further back each time, it never toggles. It
// relinks an existing release (no fetch), logs `revert`, and restarts
// (restart-file, post-deploy) through the same health gate as a deploy
// (procmon reload --wait, healthcheck): a release reverted to that does not
// serve is a `gate` StepError. It fails, naming why, when there are not n
// deploys before current or that release was pruned.
func Revert(ctx context.Context, conn Conn, env *config.Env, n int, o Options) (*Result, error) {
	if n < 1 {
		return &Result{Host: o.Host}, fmt.Errorf("revert %d: give a positive number of deploys to go back", n)
	}
	args, err := revertArgs(env, n, o)
	if err != nil {
		return &Result{Host: o.Host}, err
	}
	r := &Rollout{o: o}
	r.res.Host = o.Host
	s, err := startSession(ctx, conn, "revert", args, o.Stdout, func(ev script.Message) {
		r.onEvent(ev)
		if ev.Kind == script.KindReverted && len(ev.Fields) >= 2 {
			r.mu.Lock()
			r.res.NewRelease, r.res.NewSHA, r.res.Switched = ev.Fields[0], ev.Fields[1], true
			r.mu.Unlock()
		}
	})
	if err != nil {
		return &Result{Host: o.Host}, err
	}
	r.s = s
	err = s.wait()
	res := r.result()
	res.Reverted = res.Switched
	return res, r.wrap(err, "")
}

// revertArgs returns the script arguments of a revert.
func revertArgs(env *config.Env, n int, o Options) ([]string, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	h, err := hookArgs(env)
	if err != nil {
		return nil, err
	}
	g, err := gateArgs(env)
	if err != nil {
		return nil, err
	}
	args = append(append(append(args, h...), g...), script.Arg("n", strconv.Itoa(n)))
	return append(args, flag("wait", o.Wait)...), nil
}
