package deploy

import (
	"context"
	"fmt"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// Setup creates the server layout of env (<path>/{repo,releases,shared}),
// clones env.Repo as a bare mirror into <path>/repo (source push: an
// empty bare repository, which deploys push into), creates the shared
// directories (entries ending in '/') and runs post-setup in <path>.
// Running it again keeps the mirror (updating its origin URL) and is
// otherwise harmless.
func Setup(ctx context.Context, conn Conn, env *config.Env, o Options) error {
	args, err := setupArgs(env, o)
	if err != nil {
		return err
	}
	return runSimple(ctx, conn, "setup", args, o, nil)
}

// runSimple runs a remote command to its end and returns its error.
func runSimple(ctx context.Context, conn Conn, sub string, args []string, o Options, onEvent func(script.Message)) error {
	s, err := startSession(ctx, conn, sub, args, o.Stdout, func(ev script.Message) {
		if ev.Kind == script.KindStep && o.OnStep != nil {
			o.OnStep(ev.Rest)
		}
		if onEvent != nil {
			onEvent(ev)
		}
	})
	if err != nil {
		return err
	}
	return hostErr(o.Host, s.wait())
}

// setupArgs returns the script arguments of a setup.
func setupArgs(env *config.Env, o Options) ([]string, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	if env.Repo != "" || (env.Source != "push" && env.Build != "local") {
		if err := config.CheckRepo(env.Repo); err != nil {
			return nil, fmt.Errorf("env %s: %w", env.Name, err)
		}
		args = append(args, script.Arg("repo", env.Repo))
	}
	h, err := hookArgs(env)
	if err != nil {
		return nil, err
	}
	args = append(args, h...)
	return append(args, flag("wait", o.Wait)...), nil
}
