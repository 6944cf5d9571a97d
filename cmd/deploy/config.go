package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/deploytool/deploy/deploy/config"
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
