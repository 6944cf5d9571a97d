package main

import (
	"context"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/internal/version"
)

// globals are the flags of a deploy command line.
type globals struct {
	Config     string // -c: config file ("" = ./deploy.conf, then ./deploy.toml)
	Chdir      string // -C: directory the config and the local repo are found from ("" = .)
	DryRun     bool
	JSON       bool
	AcceptNew  bool
	Wait       bool
	NoTests    bool
	Force      bool
	NoRollback bool
	Push       bool   // --push: source push for this deploy (or setup)
	GitRemote  bool   // setup --git-remote: make `git push <env>` deploy
	Dirty      bool   // --dirty: build local in the working tree, uncommitted changes included
	Transport  string // "ssh" (default) or "local": run the remote script with this machine's bash
	Ref        string
	Follow     bool
	Lines      int
	SSHConfig  string // -F: ssh_config file, as `ssh -F` ("" = the env's ssh-config key, then ssh's own files)
	SSH        bool   // config --ssh: print each host's resolved SSH settings
	Init       initFlags
}

const helpExamples = `
EXAMPLES:
   deploy production setup          create the layout on the server, clone the repo
   deploy production                deploy the env's ref (default: the origin's default branch)
   deploy production v1.4.2         deploy a tag, branch or sha
   deploy production revert         roll back one deploy; 'revert 2' goes back two
   deploy production list           the deploy log (.deploys)
   deploy production exec ls -la    run a command in the current release
   deploy production unlock         break a lock left by a killed deploy
   deploy production status         release, lock and app state of every host
   deploy production logs -f        follow the app's log on every host
   deploy production check          preflight on every host, changes nothing
   deploy production trust          check and record a new server's host key, deploy nothing
   deploy staging --dry-run         the plan and the changelog, changes nothing
   deploy init --host web1 --path /var/www/app   write deploy.conf and procmon.toml for this repo
   deploy production status --help  a command's own help and examples
`

// newApp builds the CLI. Commands follow the classic bash deploy's grammar
// `<env> [command] [args]`, so they are positionals, not cli subcommands.
func newApp(stdin io.Reader, stdout, stderr io.Writer, g *globals, action cli.ActionFunc) *cli.App {
	app := &cli.App{
		Name:    "deploy",
		Usage:   "deploy a git repo to your servers over SSH, and roll it back",
		Version: version.String(),
		UsageText: "deploy [-c FILE] [-C DIR] [-F FILE] [--dry-run] [--json] <env> [command] [args]\n\n" +
			"COMMANDS (after <env>):\n" +
			"   (none) | <ref>           deploy the env's ref, or the ref given\n" +
			"   setup                    create the layout, clone the repo, run post-setup\n" +
			"   revert [N]               roll back N successful deploys (default 1)\n" +
			"   list | curr | prev       the deploy log, the current and previous release\n" +
			"   exec <cmd…>              run a command in current (alias: run)\n" +
			"   console                  a login shell in current\n" +
			"   config [key] | --ssh     print the resolved config, or each host's SSH settings\n" +
			"   status                   release, lock and (with procmon) app state of every host\n" +
			"   logs [-f] [-n N] [FILE]  the app's log from every host\n" +
			"   check                    preflight on every host, changes nothing\n" +
			"   trust                    show every host's key, record new ones in known_hosts; runs nothing\n" +
			"   unlock [--force]         break a stale lock (says whose it was)\n" +
			"   scale N                  run N workers under each host's procmon, no reload\n\n" +
			"The env comes first; it may be left out only when the file has one env and\n" +
			"nothing else is given ('deploy'). A ref always follows the env.",
		HideHelpCommand: true,
		// Our own help and version flags instead of urfave/cli's: its
		// HelpFlag and VersionFlag are package variables that every
		// parse writes to, a data race when two deploys run in one
		// process (the end-to-end tests do).
		HideHelp:             true,
		HideVersion:          true,
		EnableBashCompletion: true,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		// Errors are printed once by main; cli.Exit must never os.Exit
		// from below main, or deferred unlocks would not run.
		ExitErrHandler: func(*cli.Context, error) {},
		Flags:          flags(g),
		Action:         action,
		BashComplete:   complete(g),
	}
	app.CustomAppHelpTemplate = cli.AppHelpTemplate + helpExamples
	return app
}

func flags(g *globals) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (default ./deploy.conf, then ./deploy.toml)", Destination: &g.Config},
		&cli.StringFlag{Name: "chdir", Aliases: []string{"C"}, Usage: "run in `DIR`", Destination: &g.Chdir},
		&cli.StringFlag{Name: "ssh-config", Aliases: []string{"F"}, Usage: "read ssh_config `FILE` instead of ~/.ssh/config and /etc/ssh/ssh_config, as ssh -F (default: the env's ssh-config key)", Destination: &g.SSHConfig},
		&cli.BoolFlag{Name: "ssh", Usage: "config: print what each host's SSH connection will use (ssh -G's keyword value lines), without connecting", Destination: &g.SSH},
		&cli.StringFlag{Name: "ref", Usage: "deploy `REF` instead of the env's ref", Destination: &g.Ref},
		&cli.BoolFlag{Name: "dry-run", Usage: "deploy: print the plan and the changelog, change nothing on any host", Destination: &g.DryRun},
		&cli.BoolFlag{Name: "json", Usage: "deploy, status, check: JSON lines on stdout for scripts (deploy: one per event, then a summary)", Destination: &g.JSON},
		&cli.BoolFlag{Name: "accept-new", Usage: "trust and record a host key seen for the first time (to do only that: deploy <env> trust)", Destination: &g.AcceptNew},
		&cli.BoolFlag{Name: "wait", Usage: "wait for a running deploy's lock instead of failing", Destination: &g.Wait},
		&cli.BoolFlag{Name: "no-tests", Aliases: []string{"T"}, Usage: "skip the test hook", Destination: &g.NoTests},
		&cli.BoolFlag{Name: "force", Usage: "deploy: ship although the ref is not your local HEAD, has unpushed commits or your clone has uncommitted changes; unlock: break a lock whose holder still runs", Destination: &g.Force},
		&cli.BoolFlag{Name: "push", Usage: "deploy, setup: ship the commits from this clone over the SSH connection (source push) for this run", Destination: &g.Push},
		&cli.BoolFlag{Name: "git-remote", Usage: "setup: make 'git push <env> <branch>' deploy: a receive hook on the server, a git remote named after the env here", Destination: &g.GitRemote},
		&cli.BoolFlag{Name: "dirty", Usage: "deploy with build local: build in your working tree, uncommitted changes included, instead of a clean checkout of the ref", Destination: &g.Dirty},
		&cli.BoolFlag{Name: "no-rollback", Usage: "keep hosts that switched when a later health gate fails", Destination: &g.NoRollback},
		&cli.StringFlag{Name: "host", Usage: "init: the server (`[user@]HOST[:port]` or an ssh_config alias)", Destination: &g.Init.Host},
		&cli.StringFlag{Name: "path", Usage: "init: the app's directory on the server (`DIR`)", Destination: &g.Init.Path},
		&cli.StringFlag{Name: "repo", Usage: "init: the git `URL` the server fetches (default: the clone's origin)", Destination: &g.Init.Repo},
		&cli.StringFlag{Name: "transport", Usage: "`ssh` (default), or local: run the remote script with this machine's bash (demo, tests)", Destination: &g.Transport},
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "logs: keep following", Destination: &g.Follow},
		&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Usage: "logs: how many lines", Value: 100, Destination: &g.Lines},
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"},
		&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"},
	}
}

// complete offers, for shell completion, the env names first, then the
// command words after an env (or after help); nothing after a command,
// so the shell falls back to file names.
func complete(g *globals) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		args := c.Args().Slice()
		var words []string
		switch {
		case len(args) == 0:
			cfg, err := loadConfig(g)
			if err != nil {
				return
			}
			words = cfg.Order
		case len(args) == 1, len(args) == 2 && args[1] == "help":
			for _, names := range commands() {
				words = append(words, names[0])
			}
		}
		for _, w := range words {
			_, _ = io.WriteString(c.App.Writer, w+"\n")
		}
	}
}

// run is main without the process: it parses args and runs one command.
// Help and version are answered before the config is read (metaOf).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g := &globals{}
	action := func(c *cli.Context) error {
		return dispatch(c.Context, g, c.Args().Slice(), stdin, stdout, stderr)
	}
	app := newApp(stdin, stdout, stderr, g, action)
	m, ok, err := metaOf(args)
	if err != nil {
		return err
	}
	if ok {
		return printMeta(ctx, m, app, stdout)
	}
	return app.RunContext(ctx, reorder(args))
}
