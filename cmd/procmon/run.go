package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/procmon"
)

func runCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run the app in the foreground until SIGTERM; SIGHUP reloads it",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Required: true, Usage: "the app's `FILE` (TOML)"},
		},
		Action: func(c *cli.Context) error {
			return runApp(c.Context, c.String("config"), stdout, stderr)
		},
	}
}

// runApp supervises the app until ctx ends (the first SIGTERM/SIGINT).
// SIGHUP reloads; a second SIGTERM/SIGINT skips the grace period.
func runApp(ctx context.Context, path string, stdout, stderr io.Writer) error {
	cfg, err := procmon.LoadConfig(path)
	if err != nil {
		return err
	}
	sup, err := procmon.New(cfg, procmon.Options{
		Output: stdout,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go handleSignals(sigs, done, sup)
	return sup.Run(ctx)
}

func handleSignals(sigs <-chan os.Signal, done <-chan struct{}, sup *procmon.Supervisor) {
	stops := 0
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				sup.ReloadAsync("signal")
				continue
			}
			// The first one also cancelled main's context: a graceful stop.
			if stops++; stops >= 2 {
				sup.Force()
			}
		}
	}
}
