package deploy

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// The script arguments of each command are built here from an Env and the
// Options, checking every value with package script first: a bad value is
// an error before anything is sent to the server.

// baseArgs checks env and returns the script arguments every command gets.
func baseArgs(env *config.Env, o Options) ([]string, error) {
	if env == nil {
		return nil, fmt.Errorf("no environment given")
	}
	if err := config.CheckPath(env.Path); err != nil {
		return nil, fmt.Errorf("env %s: %w", env.Name, err)
	}
	if err := config.CheckField("env name", env.Name); err != nil {
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
		script.Arg("env", env.Name),
		script.Arg("path", env.Path),
		script.Arg("who", who),
		script.Arg("keep", strconv.Itoa(keep)),
	}
	if shell != "" {
		args = append(args, script.Arg("shell", shell))
	}
	switch {
	case env.Build == "local":
		args = append(args, script.Arg("source", "artifact"))
	case env.Source != "":
		args = append(args, script.Arg("source", env.Source))
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
		if err := config.CheckVarName(n); err != nil {
			return nil, err
		}
		if err := config.CheckText("env "+n, vars[n]); err != nil {
			return nil, err
		}
		args = append(args, script.Arg("var", n+"="+vars[n]))
	}
	return args, nil
}

// releaseArgs returns release-command's argument, for a deploy (by the
// CLI, or by git push's post-receive) that runs it; nil without one.
func releaseArgs(env *config.Env) ([]string, error) {
	if env.ReleaseCommand == "" {
		return nil, nil
	}
	if err := config.CheckText("release-command", env.ReleaseCommand); err != nil {
		return nil, fmt.Errorf("env %s: %w", env.Name, err)
	}
	return []string{script.Arg("release-command", env.ReleaseCommand)}, nil
}

// hookArgs returns the restart and hook settings (deploy, revert, setup).
func hookArgs(env *config.Env) ([]string, error) {
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
		if err := config.CheckText(h.key, h.val); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		args = append(args, script.Arg(h.key, h.val))
	}
	if env.RestartFile != "" {
		if err := config.CheckRelPath("restart-file", env.RestartFile); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		args = append(args, script.Arg("restart-file", env.RestartFile))
	}
	for _, p := range env.Shared {
		if err := config.CheckRelPath("shared", p); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		kind := "shared"
		if slices.Contains(env.SharedFiles, p) {
			kind = "shared-file"
		}
		args = append(args, script.Arg(kind, p))
	}
	return append(args, flag("tty", env.NeedsTTY)...), nil
}

func flag(name string, on bool) []string {
	if !on {
		return nil
	}
	return []string{script.Arg(name, "1")}
}
