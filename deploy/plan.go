package deploy

import (
	"fmt"
	"strings"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
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
// (script.Script) then the control channel.
type Plan struct {
	// Ref is the ref the server would resolve ("" = the origin's default
	// branch).
	Ref string
	// Steps are the steps in order.
	Steps []PlanStep
	// Args are the remote script's arguments, as script.Arg gives them.
	Args []string
	// Command is the exact command line run through the login shell,
	// but for its mark (PlanMark in its place: each run has a new one),
	// and what CredentialsHidden and SecretsHidden leave out.
	Command string
	// CredentialsHidden: repo's URL, or an env value that is a URL,
	// holds a user or password (https://user:token@host/…,
	// postgres://app:password@db/app), left out of Steps, Args and
	// Command as git's own messages leave it out (config.AnonymizeURL):
	// a dry run's output goes to terminals and CI logs.
	CredentialsHidden bool
	// SecretsHidden: an env variable whose name looks secret (SecretName)
	// has its value shown as HiddenValue in Args and Command.
	SecretsHidden bool
}

// HiddenValue stands in a plan for the value of an env variable whose
// name looks secret.
const HiddenValue = "<hidden>"

// SecretName says whether an env variable's name looks like it holds a
// secret, by the words Django's debug page hides settings by (API, AUTH,
// TOKEN, KEY, SECRET, PASS, SIGNATURE), and CREDENTIAL and PRIVATE:
// SECRET_KEY_BASE, STRIPE_API_KEY, DB_PASSWORD, GITHUB_TOKEN. A name
// that only looks so (MONKEY_MODE) is hidden too: a dry run shows less
// rather than leak.
func SecretName(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"API", "AUTH", "TOKEN", "KEY", "SECRET", "PASS", "SIGNATURE", "CREDENTIAL", "PRIVATE"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// PlanMark stands in a plan's command line for the mark a run gets
// (script.NewMark): a new one each run.
const PlanMark = "<new each run>"

// PlanDeploy returns the plan of a deploy of env with o, as Deploy (one
// host) or DeployFleet (several: each host holds at the gate) would run
// it. It checks every value exactly as a deploy does and touches nothing.
func PlanDeploy(env *config.Env, o Options) (*Plan, error) {
	o.Hold = len(env.Hosts) > 1
	args, err := deployArgs(env, o)
	if err != nil {
		return nil, err
	}
	// repo, and an env value that is a URL with a password
	// (DATABASE_URL=postgres://app:PASSWORD@db/app), as git shows a URL
	hidden, secrets := false, false
	for i, a := range args {
		name, value, _ := strings.Cut(a, "=")
		prefix := name + "="
		if name == "var" {
			n, v, _ := strings.Cut(value, "=")
			prefix, value = prefix+n+"=", v
			if SecretName(n) && v != "" {
				args[i], secrets = prefix+HiddenValue, true
				continue
			}
		} else if name != "repo" {
			continue
		}
		if shown := config.AnonymizeURL(value); shown != value {
			args[i], hidden = prefix+shown, true
		}
	}
	line, err := script.Command(PlanMark, "deploy", args...)
	if err != nil {
		return nil, err
	}
	ref := o.Ref
	if ref == "" {
		ref = env.Ref
	}
	ref, _ = config.NormalizeRef(ref) // checked by deployArgs
	return &Plan{Ref: ref, Steps: planSteps(env, o), Args: args, Command: line, CredentialsHidden: hidden, SecretsHidden: secrets}, nil
}

// planSteps lists the steps of a deploy with env's settings, the health
// gate and the rollback included: they decide the outcome.
func planSteps(env *config.Env, o Options) []PlanStep {
	ref, _ := config.NormalizeRef(firstSet(o.Ref, env.Ref)) // checked by deployArgs
	var steps []PlanStep
	lock := "take " + env.Path + "/.deploy.lock (fail if held)"
	if o.Wait {
		lock = "take " + env.Path + "/.deploy.lock (wait while held)"
	}
	switch {
	case o.Push != nil:
		steps = append(steps,
			PlanStep{"push", "send " + env.Path + "/repo the git objects of " + ShortSHA(o.Push.Commit.SHA) + " it lacks, over this connection (the server never reaches the origin)"},
			PlanStep{"lock", lock},
			PlanStep{"checkout", "check " + ShortSHA(o.Push.Commit.SHA) + " out into a new " + env.Path + "/releases/<time>-<sha>"})
	case o.Artifact != nil:
		steps = append(steps,
			PlanStep{"build local", "on this laptop, once for every host: " + env.BuildCommand + " in a clean checkout of " + ShortSHA(o.Artifact.SHA)},
			PlanStep{"upload", "send the artifact's files (" + strings.Join(firstList(env.Artifact, "dist/"), " ") + ") that the current release lacks; the server copies the unchanged ones"},
			PlanStep{"lock", lock},
			PlanStep{"checkout", "move the upload into a new " + env.Path + "/releases/<time>-<sha>"})
	default:
		fetch := "git fetch " + config.AnonymizeURL(env.Repo) + " into " + env.Path + "/repo (its origin is set to this repo if it changed): the one contact with the origin"
		if ref == "" {
			fetch += ", with its HEAD (the default branch)"
		}
		steps = append(steps, PlanStep{"lock", lock}, PlanStep{"fetch", fetch})
		resolve := "resolve " + firstSet(ref, "the origin's default branch") + " to a commit"
		if ref != "" && !config.IsSHA(ref) {
			resolve += ", and refuse (before any release exists) if " + ref + " is not a branch or tag of the origin"
		}
		steps = append(steps,
			PlanStep{"resolve", resolve},
			PlanStep{"checkout", "check it out into a new " + env.Path + "/releases/<time>-<sha>"},
		)
	}
	if len(env.Shared) > 0 {
		steps = append(steps, PlanStep{"shared", sharedText(env)})
	}
	switch {
	case env.PreDeploy != "":
		steps = append(steps, PlanStep{"pre-deploy", "run in the new release: " + env.PreDeploy + buildNote(env)})
	case env.Build == "auto":
		steps = append(steps, PlanStep{"build", "detect the stack(s) in the new release and build them " +
			"(Node, Go, Python, Ruby, Elixir), reusing installs from " + env.Path + "/.cache/deps when the lockfile is unchanged"})
	}
	release := PlanStep{"release-command", "run in the new release, before the switch (migrations): " + env.ReleaseCommand}
	if env.ReleaseCommand != "" && !o.Hold {
		steps = append(steps, release)
	}
	if o.Hold {
		steps = append(steps, PlanStep{"prepared", "wait until every host prepared (two-phase: none switches otherwise)"})
		if env.ReleaseCommand != "" {
			release.What = "run in the new release on " + env.Hosts[0].String() + " alone (the first host), once every host is prepared and before any switches (migrations): " + env.ReleaseCommand
			steps = append(steps, release)
		}
	}
	steps = append(steps, PlanStep{"switch", "point " + env.Path + "/current at the new release (ln -s + mv -T) and log it in .deploys"})
	steps = append(steps, gateSteps(env, o)...)
	keep := env.Keep
	if keep == 0 {
		keep = 5
	}
	return append(steps,
		PlanStep{"prune", fmt.Sprintf("keep the newest %d releases", keep)},
		PlanStep{"unlock", "free the lock"})
}

// gateSteps are the restart, the health gate and what follows a failure.
func gateSteps(env *config.Env, o Options) []PlanStep {
	var steps []PlanStep
	switch {
	case env.Procmon != "":
		steps = append(steps, PlanStep{"restart", "procmon reload --wait -c " + env.Procmon + ": the new workers must become ready (the old ones serve until then)"})
	case env.RestartFile != "":
		steps = append(steps, PlanStep{"restart", "touch " + env.RestartFile + " in the new release"})
	}
	if env.PostDeploy != "" {
		steps = append(steps, PlanStep{"post-deploy", "run in the new release: " + env.PostDeploy})
	}
	switch {
	case env.Healthcheck != "":
		steps = append(steps, PlanStep{"health", "poll " + env.Healthcheck + " from the server until 2xx/3xx (DEPLOY_HEALTH_TIMEOUT, default 60 s)"})
	case env.Procmon == "":
		steps = append(steps, PlanStep{"health", "none: nothing checks that the release serves (set procmon or healthcheck); it is reported unchecked"})
	}
	if env.Test != "" && !o.NoTests {
		steps = append(steps, PlanStep{"test", "run in the new release: " + env.Test})
	}
	if o.Hold {
		steps = append(steps, PlanStep{"gate", fmt.Sprintf("hold until every batch passed its health gate (batch %s)", batchText(env.Batch))})
	}
	what := "if the restart, post-deploy, health check or test fails: put current back to the previous release, log the new one failed, restart the previous one"
	if o.Hold {
		what = "if any host's gate fails, or the laptop goes away before the commit: every switched host goes back to its previous release"
	}
	return append(steps, PlanStep{"rollback", what})
}

// sharedText says what the shared step links, and what it creates.
func sharedText(env *config.Env) string {
	t := fmt.Sprintf("link %d shared path(s) from %s/shared", len(env.Shared), env.Path)
	if len(env.SharedFiles) > 0 {
		t += " (" + strings.Join(env.SharedFiles, ", ") + ": files, created empty if missing)"
	}
	return t
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

// buildNote says that pre-deploy replaces `build auto` when both are set.
func buildNote(env *config.Env) string {
	if env.Build == "auto" {
		return " (build auto is set, but an explicit pre-deploy wins: no stack detection)"
	}
	return ""
}

func firstList(l []string, def ...string) []string {
	if len(l) > 0 {
		return l
	}
	return def
}
