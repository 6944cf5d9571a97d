package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/procmon"
	"github.com/deploytool/deploy/procmon/unit"
)

func unitCommand(stdout io.Writer) *cli.Command {
	return withExamples(&cli.Command{
		Name:      "unit",
		Usage:     "print a systemd unit that runs procmon for the app",
		ArgsUsage: " ",
		Description: `Prints a Type=notify service unit for the app, with its timeouts derived
from ready.timeout and stop_timeout and every setting explained in a comment.
Its first lines say where to install it and how to start it.`,
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "binary", Value: unit.DefaultBinary, Usage: "absolute `PATH` of procmon on the server"},
			&cli.StringFlag{Name: "user", Usage: "run procmon and the workers as `USER` (default root)"},
			&cli.StringFlag{Name: "group", Usage: "run them with `GROUP`"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := procmon.LoadConfig(c.String("config"))
			if err != nil {
				return err
			}
			path, err := filepath.Abs(c.String("config"))
			if err != nil {
				return fmt.Errorf("config path: %w", err)
			}
			o := unit.Options{App: cfg.Name, ConfigPath: path, Binary: c.String("binary"),
				StopTimeout: cfg.StopTimeout, ReadyTimeout: cfg.Ready.Timeout,
				User: c.String("user"), Group: c.String("group")}
			return unit.Render(stdout, o)
		},
	}, `   procmon unit -c /etc/procmon/blog.toml > /etc/systemd/system/procmon-blog.service
   procmon unit --user www-data --group www-data -c /etc/procmon/blog.toml
`)
}
