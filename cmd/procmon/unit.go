package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/procmon/unit"
)

func unitCommand(stdout io.Writer) *cli.Command {
	return withExamples(&cli.Command{
		Name:      "unit",
		Usage:     "print a systemd unit that runs procmon for the app",
		ArgsUsage: " ",
		Description: `Prints a Type=notify service unit for the app, with its timeouts derived
from ready.timeout and stop_timeout and every setting explained in a comment.
Its first lines say where to install it and how to start it.

The unit runs procmon as root; procmon starts the workers as the config's
user (and group), which the unit names in a comment, warning when the
config sets none and the app would run as root.`,
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "binary", Value: unit.DefaultBinary, Usage: "absolute `PATH` of procmon on the server"},
			&cli.StringFlag{Name: "user", Hidden: true},
			&cli.StringFlag{Name: "group", Hidden: true},
		},
		Action: func(c *cli.Context) error {
			for _, f := range []string{"user", "group"} {
				if c.IsSet(f) {
					return hint.Wrap(fmt.Errorf("--%s is gone: the app's user and group are keys of its config now", f), fmt.Sprintf("set %s = %q in %s; procmon stays root and starts the workers as that user", f, c.String(f), c.String("config")))
				}
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			path, err := filepath.Abs(c.String("config"))
			if err != nil {
				return fmt.Errorf("config path: %w", err)
			}
			o := unit.Options{App: cfg.Name, ConfigPath: path, Binary: c.String("binary"),
				StopTimeout: cfg.StopTimeout, ReadyTimeout: cfg.Ready.Timeout,
				User: cfg.User, Group: cfg.Group}
			return unit.Render(stdout, o)
		},
	}, `   procmon unit -c /etc/procmon/blog.toml > /etc/systemd/system/procmon-blog.service
`)
}
