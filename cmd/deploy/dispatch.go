package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/report"
)

// command is what one run of deploy does: the parsed invocation, the env
// it acts on and where its output goes.
type command struct {
	g      *globals
	inv    *invocation
	env    *config.Env
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	dial   *dialer
	// cfgFile is the config's path; its directory is where the laptop's
	// clone of the app is looked for.
	cfgFile string
	// push is what a source push deploy sends (nil otherwise).
	push *deploy.Push
	// artifact is what build local built, for every host (nil otherwise).
	artifact *deploy.Artifact
}

// dispatch loads the config, parses the positionals and runs the command.
func dispatch(ctx context.Context, g *globals, pos []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(pos) > 0 && pos[0] == "init" {
		return initApp(g, pos[1:], stdin, stdout)
	}
	if g.Init != (initFlags{}) {
		return usagef("--host, --path and --repo are for init: deploy init --host HOST --path DIR", "--host, --path and --repo apply only to init")
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	inv, err := parseInvocation(pos, cfg.Order)
	if err != nil {
		return err
	}
	env, err := cfg.Env(inv.Env)
	if err != nil {
		return err
	}
	noteBroken(stderr, cfg)
	if g.Transport != "" && g.Transport != "ssh" && g.Transport != "local" {
		return usagef("use --transport ssh (default) or --transport local", "unknown transport %q", g.Transport)
	}
	if err := checkFlags(g, inv); err != nil {
		return err
	}
	if g.GitRemote && len(env.Hosts) > 1 {
		return usagef("git push runs the deploy on the server it reaches: the fleet's batches and common health gate need 'deploy "+env.Name+"'",
			"--git-remote: %s has %d hosts, and git push deploys one", env.Name, len(env.Hosts))
	}
	if g.Push {
		if env.Build == "local" {
			return usagef("build local ships an artifact: drop --push, or set build none", "--push cannot apply to %s, which has build local", env.Name)
		}
		env.Source = "push"
	}
	c := &command{g: g, inv: inv, env: env, stdin: stdin, stdout: stdout, stderr: stderr,
		dial: newDialer(g, env, stderr), cfgFile: cfg.File}
	switch inv.Command {
	case "config":
		if g.SSH {
			return c.printSSH()
		}
		return printConfig(stdout, env, inv.Args)
	case "deploy":
		return c.deploy(ctx)
	case "console":
		return c.console(ctx)
	case "status":
		return c.status(ctx)
	case "check":
		return c.check(ctx)
	case "trust":
		return c.trust(ctx)
	case "logs":
		return c.logs(ctx)
	}
	return c.eachHost(ctx, c.hostCommand)
}

// checkFlags refuses flags that mean nothing for the command, rather than
// silently ignoring them (a --dry-run that deploys would be the worst).
func checkFlags(g *globals, inv *invocation) error {
	switch {
	case g.DryRun && inv.Command != "deploy":
		return usagef("--dry-run previews a deploy: deploy "+inv.Env+" --dry-run; "+
			"status, check, list, curr and prev change nothing anyway",
			"--dry-run does not apply to %s", inv.Command)
	case g.JSON && inv.Command != "deploy" && inv.Command != "status" && inv.Command != "check":
		return usagef("--json is for deploy, status and check", "--json does not apply to %s", inv.Command)
	case g.JSON && g.DryRun:
		return usagef("drop --json: the dry run prints a plan for people", "--json does not apply to a dry run")
	case g.Follow && inv.Command != "logs":
		return usagef("-f follows the logs: deploy "+inv.Env+" logs -f", "-f/--follow does not apply to %s", inv.Command)
	case g.SSH && inv.Command != "config":
		return usagef("--ssh shows what the connections will use: deploy "+inv.Env+" config --ssh",
			"--ssh does not apply to %s", inv.Command)
	case g.SSH && len(inv.Args) > 0:
		return usagef("--ssh prints every SSH setting of each host: deploy "+inv.Env+" config --ssh",
			"config --ssh takes no key, got %q", inv.Args[0])
	case g.GitRemote && inv.Command != "setup":
		return usagef("--git-remote is for setup: deploy "+inv.Env+" setup --git-remote", "--git-remote does not apply to %s", inv.Command)
	case g.Dirty && inv.Command != "deploy":
		return usagef("--dirty is for a build local deploy: deploy "+inv.Env+" --dirty", "--dirty does not apply to %s", inv.Command)
	case g.Push && inv.Command != "deploy" && inv.Command != "setup" && inv.Command != "check":
		return usagef("--push is for deploy (and setup, check): deploy "+inv.Env+" --push",
			"--push does not apply to %s", inv.Command)
	case g.Force && inv.Command != "deploy" && inv.Command != "unlock":
		return usagef("--force is for a deploy (skip the local checks) and unlock (break a live lock)",
			"--force does not apply to %s", inv.Command)
	}
	return nil
}

// options are the deploy.Options for host h.
func (c *command) options(h config.Host, out io.Writer) deploy.Options {
	return deploy.Options{
		Host:     h.String(),
		Stdout:   out,
		Stderr:   out,
		Ref:      c.g.Ref,
		Wait:     c.g.Wait,
		NoTests:  c.g.NoTests,
		Push:     c.push,
		Artifact: c.artifact,
	}
}

// eachHost runs fn on every host in turn over one connection each; output
// lines carry the host's name when there are several. Ctrl-C stops before
// the next host and says where each host got to.
func (c *command) eachHost(ctx context.Context, fn func(context.Context, deploy.Conn, config.Host, io.Writer) error) error {
	var failed []string
	view := report.NewOutput(c.stdout, hostNames(c.env.Hosts), report.OutputOptions{Colour: outputOptions(c.stdout).Colour})
	defer view.Close()
	state := make([]string, len(c.env.Hosts))
	for i, h := range c.env.Hosts {
		if ctx.Err() != nil {
			c.writeInterrupted(state)
			return ctx.Err()
		}
		var out io.Writer = c.stdout
		if len(c.env.Hosts) > 1 {
			hw := view.Host(h.String())
			defer hw.Flush()
			out = hw
		}
		err := c.withConn(ctx, h, func(conn deploy.Conn) error { return fn(ctx, conn, h, out) })
		state[i] = "done"
		switch {
		case err != nil && ctx.Err() != nil:
			state[i] = "interrupted: its lock is released; 'deploy " + c.env.Name + " curr' shows where it is"
			c.writeInterrupted(state)
			return err
		case err != nil && len(c.env.Hosts) == 1:
			return err
		case err != nil:
			state[i] = "failed"
			printError(c.stderr, fmt.Errorf("%s: %w", h, err))
			failed = append(failed, h.String())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s failed on %s", c.inv.Command, strings.Join(failed, ", "))
	}
	return nil
}

// writeInterrupted says, after Ctrl-C, how far the command got on each
// host ("" = not started).
func (c *command) writeInterrupted(state []string) {
	if len(state) < 2 {
		return
	}
	fmt.Fprintf(c.stderr, "%s interrupted; the hosts are:\n", c.inv.Command)
	for i, h := range c.env.Hosts {
		st := state[i]
		if st == "" {
			st = "not started: unchanged"
		}
		fmt.Fprintf(c.stderr, "  %s: %s\n", h, st)
	}
}

func (c *command) withConn(ctx context.Context, h config.Host, fn func(deploy.Conn) error) error {
	conn, err := c.dial.dial(ctx, h)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

// hostCommand runs one of the per-host commands.
func (c *command) hostCommand(ctx context.Context, conn deploy.Conn, h config.Host, out io.Writer) error {
	o := c.options(h, out)
	switch c.inv.Command {
	case "setup":
		if err := deploy.Setup(ctx, conn, c.env, o); err != nil {
			return err
		}
		fmt.Fprintf(out, "setup done: %s is ready for 'deploy %s'\n", c.env.Path, c.env.Name)
		if c.g.GitRemote {
			return c.gitRemote(ctx, conn, h, o, out)
		}
		return nil
	case "revert":
		res, err := deploy.Revert(ctx, conn, c.env, c.inv.N, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "reverted %s -> %s (%s) in %s\n", deploy.ShortSHA(res.OldSHA), deploy.ShortSHA(res.NewSHA), res.NewRelease, res.Duration.Round(msRound))
		if res.Gate == deploy.GateUnchecked {
			fmt.Fprintf(c.stderr, "warning: %s\n", res.GateReason)
		}
		return nil
	case "list":
		log, err := deploy.List(ctx, conn, c.env, o)
		if err != nil {
			return err
		}
		writeLog(out, log)
		return nil
	case "curr", "prev":
		get := deploy.Current
		if c.inv.Command == "prev" {
			get = deploy.Previous
		}
		rel, err := get(ctx, conn, c.env, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\t%s\n", rel.SHA, rel.ID)
		return nil
	case "exec":
		o.Stdin = c.stdin
		o.Stderr = c.stderr
		return deploy.Exec(ctx, conn, c.env, c.inv.Args, o)
	case "scale":
		return deploy.Scale(ctx, conn, c.env, c.inv.N, out)
	case "unlock":
		res, err := deploy.Unlock(ctx, conn, c.env, c.g.Force, o)
		if err != nil {
			return err
		}
		writeUnlock(out, res)
		return nil
	}
	return usagef("see 'deploy --help'", "%s is not implemented for this transport", c.inv.Command)
}

// console opens a login shell in current on the first host.
func (c *command) console(ctx context.Context) error {
	h := c.env.Hosts[0]
	if len(c.env.Hosts) > 1 {
		fmt.Fprintf(c.stderr, "note: console opens on the first host, %s\n", h)
	}
	return c.withConn(ctx, h, func(conn deploy.Conn) error {
		return deploy.Console(ctx, conn, c.env, c.options(h, c.stdout))
	})
}
