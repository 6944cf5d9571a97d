// Command procmon runs an app's worker processes behind one public port and
// reloads them with zero dropped requests. See package procmon for how, and
// package procmon/control for the control socket the other subcommands use.
//
// Exit statuses, which `deploy` relies on for `procmon reload --wait`:
//
//	0  done (reload: the new generation serves; without --wait, queued)
//	1  any other error (bad flags or config, socket I/O, …)
//	3  reload abandoned: the new generation failed, the old one keeps serving
//	   (while procmon waits for the first deploy: dir does not exist yet, or
//	   the first generation failed; nothing serves yet)
//	4  reload: no verdict within --timeout; the reload may still finish
//	5  procmon is not running for this config (nothing answers on its socket)
//	6  permission denied (any command): this user may not use the control
//	   socket, or read the log or the config; procmon may be running fine.
//	   The message names the path, the hint the group to join.
//
// Shell completion of the subcommands is urfave/cli's
// --generate-bash-completion; the README shows the bash and zsh glue.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/internal/version"
	"github.com/deploytool/deploy/procmon/control"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(os.Stderr, err))
}

const appExamples = `
EXAMPLES:
   procmon run -c /etc/procmon/blog.toml             # what systemd runs (procmon unit prints the unit)
   procmon reload --wait -c /etc/procmon/blog.toml   # what deploy runs after switching current
   procmon status -c /etc/procmon/blog.toml
   procmon logs -f -c /etc/procmon/blog.toml
`

// run is the whole program minus the process: arguments in, error out.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := &cli.App{
		Name:                  "procmon",
		Usage:                 "run an app's workers and reload them with zero dropped requests",
		Version:               version.String(),
		Writer:                stdout,
		ErrWriter:             stderr,
		EnableBashCompletion:  true,
		ExitErrHandler:        func(*cli.Context, error) {}, // errors go back to main, which prints them once
		CustomAppHelpTemplate: cli.AppHelpTemplate + exitStatusHelp + appExamples,
		Commands: []*cli.Command{
			runCommand(stderr),
			reloadCommand(stdout, stderr),
			statusCommand(stdout),
			scaleCommand(stdout),
			logsCommand(stdout),
			unitCommand(stdout),
		},
	}
	return app.RunContext(ctx, args)
}

// withExamples makes a command's --help end with its examples, after the
// sections in before.
func withExamples(c *cli.Command, examples string, before ...string) *cli.Command {
	c.CustomHelpTemplate = cli.CommandHelpTemplate + strings.Join(before, "") + "\nEXAMPLES:\n" + examples
	return c
}

// exitError carries the exit status of a failure other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// report prints err once (nothing when nil) and returns the exit status.
func report(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	printError(w, err)
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	if errors.Is(err, control.ErrNotRunning) {
		return control.ExitNotRunning
	}
	if errors.Is(err, os.ErrPermission) {
		return control.ExitPermission
	}
	return 1
}

// printError prints err as "error: …" lines and its hint as "hint: …"
// (each problem of a config with several gets its own).
func printError(w io.Writer, err error) { hint.Print(w, err) }
