package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/urfave/cli/v2"

	"github.com/deploytool/deploy/procmon"
	"github.com/deploytool/deploy/procmon/control"
)

const exitStatusHelp = `
EXIT STATUS (procmon reload):
   0  the new generation serves (without --wait: the reload was queued)
   1  any other error (bad flags or config, socket I/O)
   3  the reload was abandoned: the new generation was not ready in time or
      crashed at boot; the old generation keeps serving; the reason and the
      failed generation's last log lines are printed. Before the first
      deploy (procmon waiting) also when dir does not exist yet: deploy first
   4  no verdict within --timeout; the reload may still finish
   5  procmon is not running for this config
   6  permission denied on the control socket (or the config): add this
      user to the group of the config's group key, or set that key
`

func reloadCommand(stdout, stderr io.Writer) *cli.Command {
	return withExamples(&cli.Command{
		Name:      "reload",
		Usage:     "ask the running procmon to reload the app (what deploy runs)",
		ArgsUsage: " ",
		Description: `Starts a new generation of workers next to the serving one and switches
traffic to it once every new worker is ready. A reload never makes things
worse: a new generation that is not ready within ready.timeout, or crashes,
is stopped and the old one keeps serving.

Without --wait the reload is queued and procmon reload exits 0 at once.
With --wait it prints the verdict and exits with the status below.`,
		Flags: []cli.Flag{
			configFlag(),
			&cli.BoolFlag{Name: "wait", Usage: "wait for the verdict and exit non-zero when the reload is abandoned"},
			&cli.DurationFlag{Name: "timeout", DefaultText: "10m", Usage: "with --wait, give up waiting after `D`"},
		},
		Action: func(c *cli.Context) error {
			return reload(c, stdout, stderr)
		},
	}, `   procmon reload --wait -c /etc/procmon/blog.toml
   procmon reload --wait --timeout 90s -c /etc/procmon/blog.toml || echo "old release still serving"
   procmon reload -c /etc/procmon/blog.toml      # queue it and return
`, exitStatusHelp)
}

func reload(c *cli.Context, stdout, stderr io.Writer) error {
	if c.Duration("timeout") < 0 {
		return hint.Wrap(fmt.Errorf("--timeout %s: must be positive", c.Duration("timeout")), "e.g. --timeout 90s")
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	r, err := control.NewClient(cfg.Socket).Reload(c.Context, c.Bool("wait"), c.Duration("timeout"))
	err = withConfigGroup(err, cfg)
	code := control.ExitCode(r, err)
	switch {
	case err != nil && c.Context.Err() != nil:
		return &exitError{code: control.ExitTimeout, err: hint.Wrap(fmt.Errorf("reload of %s: interrupted before the verdict; the reload goes on", cfg.Name), fmt.Sprintf("'procmon status -c %s' shows its result", c.String("config")))}
	case err != nil:
		return &exitError{code: code, err: fmt.Errorf("reload %s: %w", cfg.Name, err)}
	case code == control.ExitOK:
		return control.RenderReload(stdout, r)
	}
	control.RenderReload(stderr, r)
	if code == control.ExitAbandoned {
		return &exitError{code: code, err: hint.Wrap(fmt.Errorf("reload of %s abandoned", cfg.Name), fmt.Sprintf("fix the cause above and reload again; 'procmon logs -c %s' shows the whole log", c.String("config")))}
	}
	return &exitError{code: code, err: hint.Wrap(fmt.Errorf("reload of %s: no verdict", cfg.Name), fmt.Sprintf("'procmon status -c %s' shows whether it finished", c.String("config")))}
}

func statusCommand(stdout io.Writer) *cli.Command {
	return withExamples(&cli.Command{
		Name:      "status",
		Usage:     "show the app's state, workers, last reload, heartbeat and metrics",
		ArgsUsage: " ",
		Description: `Asks the running procmon for its view of the app: state (waiting, starting,
ready, reloading, degraded, crash-loop, stopping), generation, each worker (pid,
port, state, uptime, restarts, its own heartbeat check and how often the
heartbeat replaced it, RSS, CPU), the last reload, the heartbeat, the
latest host metrics and why the app is degraded.

--json prints the documented, stable shape of package procmon/control
(type Status): fields may be added, none is renamed or removed.`,
		Flags: []cli.Flag{
			configFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of the table"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			st, err := control.NewClient(cfg.Socket).Status(c.Context)
			if err != nil {
				return fmt.Errorf("status %s: %w", cfg.Name, withConfigGroup(err, cfg))
			}
			if !c.Bool("json") {
				return control.RenderStatus(stdout, st)
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		},
	}, `   procmon status -c /etc/procmon/blog.toml
   procmon status --json -c /etc/procmon/blog.toml | jq -r .state
`)
}

// loadConfig reads the -c config; a file this user may not read is a
// permission error (exit 6) naming it.
func loadConfig(c *cli.Context) (*procmon.Config, error) {
	cfg, err := procmon.LoadConfig(c.String("config"))
	return cfg, permissionError(err, 0o040)
}

// permissionError turns a refusal to open a file into a
// *control.PermissionError naming it; need is the group permission the
// use takes. Other errors are returned as they are.
func permissionError(err error, need os.FileMode) error {
	pe, ok := errors.AsType[*fs.PathError](err)
	if !ok || !errors.Is(err, os.ErrPermission) {
		return err
	}
	if _, done := errors.AsType[*control.PermissionError](err); done {
		return err
	}
	return control.NewPermissionError(pe.Path, need, err)
}

// withConfigGroup names the config's group in a refusal whose socket
// grants none it could see (a directory above it may be what refused).
func withConfigGroup(err error, cfg *procmon.Config) error {
	if pe, ok := errors.AsType[*control.PermissionError](err); ok && pe.Group == "" {
		pe.Group = cfg.Group
	}
	return err
}
