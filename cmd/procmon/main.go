// Command procmon runs an app's worker processes behind one public port and
// reloads them with zero dropped requests. See package procmon for how.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		printError(os.Stderr, err)
		os.Exit(1)
	}
}

// run is the whole program minus the process: arguments in, error out.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := &cli.App{
		Name:                 "procmon",
		Usage:                "run an app's workers and reload them with zero dropped requests",
		Version:              version.String(),
		Writer:               stdout,
		ErrWriter:            stderr,
		ExitErrHandler:       func(*cli.Context, error) {}, // errors go back to main, which prints them once
		EnableBashCompletion: false,
		Commands:             []*cli.Command{runCommand(stdout, stderr)},
	}
	return app.RunContext(ctx, args)
}

// printError prints each line of err as "error: …", with any
// "(hint: …)" moved to a "hint: …" line of its own.
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		msg, hint, ok := strings.Cut(line, " (hint: ")
		fmt.Fprintf(w, "error: %s\n", msg)
		if ok {
			fmt.Fprintf(w, "hint: %s\n", strings.TrimSuffix(hint, ")"))
		}
	}
}
