package deploy

import (
	"fmt"

	"github.com/deploytool/deploy/hooks"
)

// PlanStep is one step a deploy would run on a host.
type PlanStep struct {
	// Name is the remote script's step name (lock, fetch, …) or, for the
	// fleet's own phases, prepared and gate.
	Name string
	// What says what it does with this env's settings.
	What string
}

// Plan is what a deploy of an env would do on one host, computed without
// connecting: the steps, and the exact remote command and script
// arguments. The remote command's standard input is the embedded script
// (hooks.Script) then the control channel.
type Plan struct {
	// Ref is the ref the server would resolve ("" = the origin's default
	// branch).
	Ref string
	// Steps are the steps in order.
	Steps []PlanStep
	// Args are the remote script's arguments, as hooks.Arg gives them.
	Args []string
	// Command is the exact command line run through the login shell.
	Command string
}

// PlanDeploy returns the plan of a deploy of env with o, as Deploy (one
// host) or DeployFleet (several: each host holds at the gate) would run
// it. It checks every value exactly as a deploy does and touches nothing.
func PlanDeploy(env *Env, o Options) (*Plan, error) {
	o.Hold = len(env.Hosts) > 1
	args, err := deployArgs(env, o)
	if err != nil {
		return nil, err
	}
	line, err := hooks.Command("deploy", args...)
	if err != nil {
		return nil, err
	}
	ref := o.Ref
	if ref == "" {
		ref = env.Ref
	}
	ref, _ = hooks.NormalizeRef(ref) // checked by deployArgs
	return &Plan{Ref: ref, Steps: planSteps(env, o), Args: args, Command: line}, nil
}

// planSteps lists the steps of a deploy with env's settings.
func planSteps(env *Env, o Options) []PlanStep {
	ref := "the origin's default branch"
	if env.Ref != "" || o.Ref != "" {
		ref = firstSet(o.Ref, env.Ref)
	}
	lock := "take " + env.Path + "/.deploy.lock (fail if held)"
	if o.Wait {
		lock = "take " + env.Path + "/.deploy.lock (wait while held)"
	}
	steps := []PlanStep{
		{"lock", lock},
		{"fetch", "git fetch the origin into " + env.Path + "/repo"},
		{"resolve", "resolve " + ref + " to a commit"},
		{"checkout", "check it out into a new " + env.Path + "/releases/<time>-<sha>"},
	}
	if len(env.Shared) > 0 {
		steps = append(steps, PlanStep{"shared", fmt.Sprintf("link %d shared path(s) from %s/shared", len(env.Shared), env.Path)})
	}
	if env.PreDeploy != "" {
		steps = append(steps, PlanStep{"pre-deploy", "run in the new release: " + env.PreDeploy})
	}
	if o.Hold {
		steps = append(steps, PlanStep{"prepared", "wait until every host prepared (two-phase: none switches otherwise)"})
	}
	steps = append(steps, PlanStep{"switch", "point " + env.Path + "/current at the new release (ln -s + mv -T)"})
	if env.RestartFile != "" {
		steps = append(steps, PlanStep{"restart", "touch " + env.RestartFile + " in the new release"})
	}
	if env.PostDeploy != "" {
		steps = append(steps, PlanStep{"post-deploy", "run in the new release: " + env.PostDeploy})
	}
	if env.Test != "" && !o.NoTests {
		steps = append(steps, PlanStep{"test", "run in the new release, revert if it fails: " + env.Test})
	}
	if o.Hold {
		steps = append(steps, PlanStep{"gate", fmt.Sprintf("hold until every batch passed its health gate (batch %s)", batchText(env.Batch))})
	}
	keep := env.Keep
	if keep == 0 {
		keep = 5
	}
	return append(steps,
		PlanStep{"prune", fmt.Sprintf("keep the newest %d releases", keep)},
		PlanStep{"unlock", "free the lock"})
}

func batchText(n int) string {
	if n <= 0 {
		return "all"
	}
	return fmt.Sprint(n)
}

func firstSet(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
