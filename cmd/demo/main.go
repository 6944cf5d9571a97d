// Command demo is `make demo`: it deploys an example app to a target on
// this machine, serves it under procmon, deploys a change under load with
// zero failed requests, reverts it and cleans up. See internal/demo.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/deploytool/deploy/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := demo.Options{Out: stdout}
	fs.StringVar(&o.BinDir, "bin", "bin", "directory holding the deploy and procmon binaries")
	fs.StringVar(&o.ExamplesDir, "examples", "examples", "the repo's examples directory")
	fs.BoolVar(&o.Keep, "keep", false, "leave the work directory, procmon and sshd running")
	fs.BoolVar(&o.Local, "local", false, "use the local transport even when sshd exists")
	fs.StringVar(&o.Example, "example", "", "node-hello or go-hello (default: node-hello when node is installed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := demo.Run(ctx, o)
	return err
}
