package deploy

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strconv"
	"time"

	"github.com/deploytool/deploy/hooks"
)

// Options are the caller's choices for one remote command. The zero value
// discards output, deploys the env's ref, names the deployer $USER@hostname,
// fails at once on a busy lock and runs the test hook.
type Options struct {
	// Host names the host in errors and results ("" = none).
	Host string
	// Stdout receives the remote output: git's and the hooks' lines
	// (nil = discard). Protocol lines are parsed, not copied.
	Stdout io.Writer
	// Stdin is given to the command of Exec (nil = no input).
	Stdin io.Reader
	// Stderr receives Exec's standard error (nil = Stdout). Other
	// commands send everything to Stdout, in order.
	Stderr io.Writer
	// Ref overrides env.Ref ("" = env.Ref; both empty = the origin's
	// default branch).
	Ref string
	// Who is the user@laptop written into .deploys and the lock
	// ("" = $USER@hostname of this machine).
	Who string
	// Wait waits for a busy lock instead of failing at once.
	Wait bool
	// NoTests skips the test hook (-T).
	NoTests bool
	// Hold keeps a deploy open after the restart and test until the caller
	// says Commit or Revert (multi-host health gate). Only Prepare uses it.
	Hold bool
	// OnStep, when set, is called as each remote step starts (live
	// progress). It runs on the transport's goroutine: keep it quick.
	OnStep func(step string)
}

// Step is one remote step and how long it took.
type Step struct {
	// Name is the script's step name (fetch, pre-deploy, switch, …).
	Name string
	// Duration is the wall time from its start to the next step's.
	Duration time.Duration
}

// who returns the deployer identity to record.
func (o Options) who() (string, error) {
	w := o.Who
	if w == "" {
		name := os.Getenv("USER")
		if u, err := user.Current(); err == nil && u.Username != "" {
			name = u.Username
		}
		host, _ := os.Hostname()
		w = name + "@" + host
	}
	if err := hooks.CheckField("deployer identity", w); err != nil {
		return "", err
	}
	return w, nil
}

// baseArgs checks env and returns the script arguments every command gets.
func baseArgs(env *Env, o Options) ([]string, error) {
	if env == nil {
		return nil, fmt.Errorf("no environment given")
	}
	if err := hooks.CheckPath(env.Path); err != nil {
		return nil, fmt.Errorf("env %s: %w", env.Name, err)
	}
	if err := hooks.CheckField("env name", env.Name); err != nil {
		return nil, err
	}
	who, err := o.who()
	if err != nil {
		return nil, err
	}
	keep := env.Keep
	if keep == 0 {
		keep = 5
	}
	if keep < 1 {
		return nil, fmt.Errorf("env %s: keep %d must be at least 1", env.Name, keep)
	}
	shell := ""
	switch env.Shell {
	case "", "bash":
	case "login":
		shell = "login"
	default:
		return nil, fmt.Errorf("env %s: shell %q is not bash or login", env.Name, env.Shell)
	}
	args := []string{
		hooks.Arg("env", env.Name),
		hooks.Arg("path", env.Path),
		hooks.Arg("who", who),
		hooks.Arg("keep", strconv.Itoa(keep)),
	}
	if shell != "" {
		args = append(args, hooks.Arg("shell", shell))
	}
	vars, err := varArgs(env.Vars)
	if err != nil {
		return nil, fmt.Errorf("env %s: %w", env.Name, err)
	}
	return append(args, vars...), nil
}

// varArgs returns the `env` key's variables as var=NAME=value, sorted.
func varArgs(vars map[string]string) ([]string, error) {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var args []string
	for _, n := range names {
		if err := hooks.CheckVarName(n); err != nil {
			return nil, err
		}
		if err := hooks.CheckText("env "+n, vars[n]); err != nil {
			return nil, err
		}
		args = append(args, hooks.Arg("var", n+"="+vars[n]))
	}
	return args, nil
}

// hookArgs returns the restart and hook settings (deploy, revert, setup).
func hookArgs(env *Env) ([]string, error) {
	var args []string
	for _, h := range []struct{ key, val string }{
		{"pre-deploy", env.PreDeploy},
		{"post-deploy", env.PostDeploy},
		{"post-setup", env.PostSetup},
		{"test", env.Test},
	} {
		if h.val == "" {
			continue
		}
		if err := hooks.CheckText(h.key, h.val); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		args = append(args, hooks.Arg(h.key, h.val))
	}
	if env.RestartFile != "" {
		if err := hooks.CheckRelPath("restart-file", env.RestartFile); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		args = append(args, hooks.Arg("restart-file", env.RestartFile))
	}
	for _, p := range env.Shared {
		if err := hooks.CheckRelPath("shared", p); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		args = append(args, hooks.Arg("shared", p))
	}
	return args, nil
}

func flag(name string, on bool) []string {
	if !on {
		return nil
	}
	return []string{hooks.Arg(name, "1")}
}
