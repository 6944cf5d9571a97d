package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/deploy/report"
)

// loadConfig reads -c, or finds deploy.conf / deploy.toml in the -C dir.
func loadConfig(g *globals) (*config.Config, error) {
	dir := g.Chdir
	if dir == "" {
		dir = "."
	}
	path := g.Config
	if path == "" {
		found, err := config.Find(dir)
		if err != nil {
			return nil, err
		}
		path = found
	} else if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	return config.Load(path)
}

// printConfig is `deploy <env> config [key]`: the resolved settings, or
// one value. It never touches the network.
func printConfig(w io.Writer, env *config.Env, args []string) error {
	if len(args) == 0 {
		_, err := env.WriteTo(w)
		return err
	}
	v, ok := env.Lookup(args[0])
	if !ok {
		return usagef("'deploy "+env.Name+" config' lists every key", "config: unknown key %q", args[0])
	}
	_, err := fmt.Fprintln(w, v)
	return err
}

// printSSH is `deploy <env> config --ssh`: for each host, what its SSH
// connection will use, as `ssh -G`'s lowercase `keyword value` lines
// (remote.Describe), resolved without connecting. With several hosts each
// line starts with the host, as the deploy output prefixes them.
func (c *command) printSSH() error {
	hosts := c.env.Hosts
	view := report.NewOutput(c.stdout, hostNames(hosts), report.OutputOptions{})
	o, err := c.dial.options()
	if err != nil {
		return err
	}
	for _, h := range hosts {
		lines, err := remote.Describe(c.dial.target(h), o)
		if err != nil {
			return fmt.Errorf("%s: %w", h, c.dial.withEnv(err))
		}
		prefix := ""
		if len(hosts) > 1 {
			prefix = view.Prefix(h.String())
		}
		for _, l := range lines {
			if _, err := fmt.Fprintln(c.stdout, prefix+l); err != nil {
				return err
			}
		}
	}
	return nil
}

// noteBroken says, once, which other environments of the file have an
// error: they are skipped, as the classic tool skipped them, but a typo in
// [staging] should not wait for the next staging deploy to be seen.
func noteBroken(w io.Writer, cfg *config.Config) {
	for _, err := range cfg.BrokenErrors() {
		fmt.Fprintf(w, "note: skipping an environment with an error: %v\n", err)
	}
}
