package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/procmon/control"
)

func scaleCommand(stdout io.Writer) *cli.Command {
	return withExamples(&cli.Command{
		Name:      "scale",
		Usage:     "change the number of workers without a reload",
		ArgsUsage: "N",
		Description: `Sets the number of workers of the serving generation to N, with no reload
and no failed request: new workers (WORKER_ID after the highest) join the
rotation once ready; going down, the highest WORKER_IDs leave it, finish
their requests and stop.

The config's workers is the start value. N is kept in a state file next to
the control socket (<socket>.scale) and holds across reloads and restarts
of procmon until the config's workers changes: then the config wins and N
is forgotten. 'procmon scale' back to the config's value forgets it too.
'procmon status' shows the count and where it came from.`,
		Flags: []cli.Flag{configFlag()},
		Action: func(c *cli.Context) error {
			return scale(c, stdout)
		},
	}, `   procmon scale -c /etc/procmon/blog.toml 4
   procmon status -c /etc/procmon/blog.toml | grep workers:
`)
}

func scale(c *cli.Context, stdout io.Writer) error {
	if c.NArg() != 1 {
		return hint.Errorf("flags go before N: procmon scale -c /etc/procmon/blog.toml 4", "scale: want one argument, the number of workers")
	}
	n, err := strconv.Atoi(c.Args().First())
	if err != nil || n < 0 {
		return hint.Errorf("a whole number of workers (0 only with workers = \"0..N\")", "scale: %q is not a number of workers", c.Args().First())
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	ev, err := control.NewClient(cfg.Socket).Scale(c.Context, n)
	if err != nil {
		return fmt.Errorf("scale %s: %w", cfg.Name, withConfigGroup(err, cfg))
	}
	then := "new workers serve once ready ('procmon status' shows them)"
	switch {
	case ev.To < ev.From:
		then = "the workers scaled away finish their requests in flight, then stop"
	case ev.To == ev.From:
		then = "nothing to change"
	}
	_, err = fmt.Fprintf(stdout, "%s: %s; %s\n", cfg.Name, ev, then)
	return err
}
