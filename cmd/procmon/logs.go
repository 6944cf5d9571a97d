package main

import (
	"fmt"
	"io"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/procmon/logfile"
)

func logsCommand(stdout io.Writer) *cli.Command {
	return withExamples(&cli.Command{
		Name:      "logs",
		Usage:     "print the app's captured worker output",
		ArgsUsage: " ",
		Description: `Prints the last lines of the [log] file (reaching into the rotated .1 file
when the current one holds fewer) and, with -f, every new line until Ctrl-C,
across rotations. Each line reads
   <time> gen=<generation> worker=<id> pid=<pid> | <what the worker printed>
or, for procmon's own records (a worker started, crashed, replaced; a
reload served or abandoned), which also go to its stderr,
   <time> procmon | level=<level> msg=<what happened> <key=value …>
Without [log] file the output is in procmon's stderr: under systemd,
'journalctl -u procmon@<app>'.`,
		Flags: []cli.Flag{
			configFlag(),
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines until Ctrl-C"},
			&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: 50, Usage: "print the last `N` lines first"},
		},
		Action: func(c *cli.Context) error {
			if c.Int("lines") < 0 {
				return hint.Wrap(fmt.Errorf("-n %d: must be 0 or more", c.Int("lines")), "-n 100 prints the last 100 lines")
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if cfg.Log.File == "" {
				return hint.Wrap(fmt.Errorf("%s has no [log] file: worker output goes to procmon's stderr", c.String("config")), fmt.Sprintf("under systemd, journalctl -u procmon@%s; or set [log] file and restart procmon", cfg.Name))
			}
			opts := logfile.ReadOptions{Lines: c.Int("lines"), Follow: c.Bool("follow")}
			err = logfile.Read(c.Context, cfg.Log.File, opts, func(line string) error {
				_, err := fmt.Fprintln(stdout, line)
				return err
			})
			return withConfigGroup(permissionError(err, 0o040), cfg)
		},
	}, `   procmon logs -c /etc/procmon/blog.toml
   procmon logs -f -n 0 -c /etc/procmon/blog.toml    # only new lines, until Ctrl-C
   procmon logs -n 1000 -c /etc/procmon/blog.toml | grep 'worker=2'
`)
}
