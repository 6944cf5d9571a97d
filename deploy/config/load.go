package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxConfigSize bounds what Load reads: a config is a few hundred bytes.
const maxConfigSize = 1 << 20

// Config file names Find looks for, in order.
const (
	ININame  = "deploy.conf"
	TOMLName = "deploy.toml"
)

// Load reads the config file at path: TOML when its name ends in
// .toml, INI when it ends in .conf or .ini, and otherwise whichever form the
// content looks like (a `key = value` line means TOML).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config %s: no such file; give an existing file with -c", path)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config %s: larger than %d bytes; is this the right file?", path, maxConfigSize)
	}
	if isTOML(path, data) {
		return ParseTOML(path, data)
	}
	return ParseINI(path, data)
}

// isTOML decides the form from the file name, else from the content: the
// first line that is not blank, a comment or a section header tells.
func isTOML(path string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return true
	case ".conf", ".ini":
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		key, val := splitKeyValue(line)
		return strings.HasPrefix(val, "=") || strings.Contains(key, "=")
	}
	return false
}

// Find returns the config file of dir: deploy.conf, else deploy.toml.
func Find(dir string) (string, error) {
	for _, name := range []string{ININame, TOMLName} {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err == nil && !st.IsDir() {
			return p, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("config: %w", err)
		}
	}
	if dir == "" {
		dir = "."
	}
	return "", fmt.Errorf("no %s or %s in %s; create one, run from the app's directory (-C DIR) or name the file with -c FILE",
		ININame, TOMLName, dir)
}

// Env returns the environment called name. An empty name picks the only
// environment of a file that has exactly one.
func (c *Config) Env(name string) (*Env, error) {
	if name == "" {
		if len(c.Order) == 1 {
			return c.Env(c.Order[0])
		}
		return nil, fmt.Errorf("%s has %d environments (%s); say which one, like: deploy %s",
			c.File, len(c.Order), strings.Join(c.Order, ", "), c.Order[0])
	}
	if err := c.Broken[name]; err != nil {
		return nil, err
	}
	e, ok := c.Envs[name]
	if !ok || e == nil {
		return nil, fmt.Errorf("no environment %q in %s; it has %s", name, c.File, strings.Join(c.Order, ", "))
	}
	return e, nil
}

// BrokenErrors returns the errors of the environments in Broken, in file
// order, for a note when another environment is used.
func (c *Config) BrokenErrors() []error {
	var errs []error
	for _, name := range c.Order {
		if err := c.Broken[name]; err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Defaults that apply when a key is absent, as `deploy <env> config` shows.
const (
	DefaultKeep           = 5
	DefaultParallel       = 10
	DefaultConnectTimeout = 10 * time.Second
)

// Lookup returns the value of the config key as `deploy <env> config key`
// prints it: in the INI form, with defaults filled in; a key that may hold
// several values (env) gives one per line. ok is false when key is not a
// config key (see Keys); a known key that is unset gives "".
func (e *Env) Lookup(key string) (value string, ok bool) {
	switch key {
	case "host", "hosts":
		items := make([]string, len(e.Hosts))
		for i, h := range e.Hosts {
			items[i] = h.String()
		}
		return strings.Join(items, " "), true
	case "env":
		return strings.Join(envLines(e.Vars), "\n"), true
	case "shared":
		// a path named like a file reads back as a file from `shared`
		return strings.Join(e.sharedList(true), " "), true
	case "shared-files":
		return strings.Join(e.sharedList(false), " "), true
	case "artifact":
		if e.Build == "local" && len(e.Artifact) == 0 {
			return "dist/", true
		}
		return strings.Join(e.Artifact, " "), true
	}
	v, known := e.scalars()[key]
	return v, known
}

// scalars returns the one-value keys in the INI form, defaults filled in.
func (e *Env) scalars() map[string]string {
	num := func(n, def int) string {
		if n == 0 && def == 0 {
			return ""
		}
		if n == 0 {
			n = def
		}
		return strconv.Itoa(n)
	}
	yesNo := map[bool]string{true: "yes", false: "no"}
	timeout := DefaultConnectTimeout.String()
	if e.ConnectTimeout > 0 {
		timeout = e.ConnectTimeout.String()
	}
	build := e.Build
	if build == "" {
		build = "none"
	}
	shell := e.Shell
	if shell == "" {
		shell = "bash"
	}
	return map[string]string{
		"user": e.User, "port": num(e.Port, 0), "key": e.Key, "ssh-config": e.SSHConfig,
		"forward-agent": yesNo[e.ForwardAgent], "connect-timeout": timeout,
		"repo": e.Repo, "source": e.Source, "path": e.Path, "ref": e.Ref, "shell": shell,
		"build-command": e.BuildCommand, "needs_tty": yesNo[e.NeedsTTY], "post-setup": e.PostSetup, "build": build,
		"pre-deploy": e.PreDeploy, "release-command": e.ReleaseCommand, "post-deploy": e.PostDeploy, "test": e.Test,
		"restart-file": e.RestartFile, "procmon": e.Procmon, "healthcheck": e.Healthcheck,
		"keep": num(e.Keep, DefaultKeep), "parallel": num(e.Parallel, DefaultParallel),
		"batch": num(e.Batch, 0),
	}
}

// envLines returns the variables as sorted NAME=value lines.
func envLines(vars map[string]string) []string {
	lines := make([]string, 0, len(vars))
	for name, v := range vars {
		lines = append(lines, name+"="+v)
	}
	sort.Strings(lines)
	return lines
}

// WriteTo prints the environment as an INI section, every key that has a
// value (defaults filled in) in the order of Keys, so that the output
// reads back as the same environment.
func (e *Env) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "[%s]\n", e.Name)
	for _, key := range Keys() {
		switch key {
		case "host":
			continue
		case "hosts":
			if len(e.Hosts) == 1 {
				key = "host"
			}
		case "env":
			for _, line := range envLines(e.Vars) {
				fmt.Fprintf(&buf, "env %s\n", line)
			}
			continue
		}
		if v, _ := e.Lookup(key); v != "" {
			fmt.Fprintf(&buf, "%s %s\n", key, v)
		}
	}
	n, err := w.Write(buf.Bytes())
	return int64(n), err
}

// sharedList returns the shared paths as the config writes them: under
// `shared` (named) the directories and the files named like one, else
// under `shared-files` the other files.
func (e *Env) sharedList(named bool) []string {
	var out []string
	for _, p := range e.Shared {
		explicit := slices.Contains(e.SharedFiles, p) && !sharedLooksLikeFile(p)
		if explicit != named {
			out = append(out, p)
		}
	}
	return out
}
