package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// envBuilder fills one Env from `key value` pairs, whichever form they come
// from, so that the INI and TOML readers validate alike.
type envBuilder struct {
	file   string // the config path as given, for messages
	dir    string // the config's absolute directory, for `key`
	header int    // the line of the env's section header
	env    *Env
	hosts  map[Host]bool   // the hosts so far, to refuse repeats
	shared map[string]bool // the shared paths so far, to refuse repeats
	err    error           // the section's first error; its later lines are skipped
}

// fail records err (when not nil) as the section's error, unless it has
// one already: the first error of a section is the one reported.
func (b *envBuilder) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func newEnvBuilder(file, dir, name string, header int) *envBuilder {
	return &envBuilder{file: file, dir: dir, header: header,
		env:   &Env{Name: name, Lines: map[string]int{}},
		hosts: map[Host]bool{}, shared: map[string]bool{}}
}

// set validates and stores one key at a line; a repeatable key (hosts, env,
// shared) adds to what earlier lines gave.
func (b *envBuilder) set(key, val string, line int) error {
	spec, ok := lookupKey(key)
	if !ok {
		return configErrf(b.file, line, key, "%s", unknownKeyProblem(key))
	}
	if prev, seen := b.env.Lines[key]; seen && !spec.repeat {
		return configErrf(b.file, line, key, "already set at line %d; give it once", prev)
	}
	if err := checkText(val); err != nil {
		return configErrf(b.file, line, key, "%v", err)
	}
	if val == "" {
		return configErrf(b.file, line, key, "has no value; write it like: %s %s", key, spec.example)
	}
	if err := spec.set(b, val); err != nil {
		return configErrf(b.file, line, key, "%v", err)
	}
	if _, seen := b.env.Lines[key]; !seen {
		b.env.Lines[key] = line
	}
	return nil
}

// finish checks what only the whole env can tell: the required keys.
func (b *envBuilder) finish() (*Env, error) {
	e := b.env
	section := fmt.Sprintf("[%s]", e.Name)
	if len(e.Hosts) == 0 {
		return nil, configErrf(b.file, b.header, "host", "missing in %s; add a line like: host example.com (or hosts a b for several)", section)
	}
	if e.Repo == "" && e.Source != "push" && e.Build != "local" {
		return nil, configErrf(b.file, b.header, "repo", "missing in %s; add a line like: repo git@github.com:me/app.git (or ship from the laptop: source push, or build local)", section)
	}
	if e.Build == "local" && e.BuildCommand == "" {
		return nil, configErrf(b.file, e.Lines["build"], "build-command", "missing in %s: build local runs it on the laptop; add a line like: build-command go build -o dist/app ./cmd/app", section)
	}
	if e.BuildCommand != "" && e.Build != "local" {
		return nil, configErrf(b.file, e.Lines["build-command"], "build-command", "is only used with build local (%s has build %s); add: build local, or remove build-command", section, cmp.Or(e.Build, "none"))
	}
	if len(e.Artifact) > 0 && e.Build != "local" {
		return nil, configErrf(b.file, e.Lines["artifact"], "artifact", "is only used with build local (%s has build %s); add: build local, or remove artifact", section, cmp.Or(e.Build, "none"))
	}
	if e.Build == "local" && e.Source == "push" {
		return nil, configErrf(b.file, e.Lines["source"], "source", "source push sends commits for the server to build, and build local ships a built artifact instead: use one of them in %s", section)
	}
	if e.Path == "" {
		return nil, configErrf(b.file, b.header, "path", "missing in %s; add a line like: path /var/www/app", section)
	}
	if strings.HasPrefix(e.Healthcheck, "/") && e.Procmon == "" {
		return nil, configErrf(b.file, e.Lines["healthcheck"], "healthcheck",
			"%q is a path, which is tried on procmon's listen address, but %s has no procmon key; set procmon, or give a URL like http://127.0.0.1:3000%s", e.Healthcheck, section, e.Healthcheck)
	}
	return e, nil
}

// setHost stores the single `host` item.
func (b *envBuilder) setHost(v string) error {
	if line, ok := b.env.Lines["hosts"]; ok {
		return fmt.Errorf("hosts is already set at line %d; use either host (one) or hosts (several)", line)
	}
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return fmt.Errorf("%q is several words; host takes one host, use hosts for several", v)
	}
	h, err := parseHost(v)
	if err != nil {
		return err
	}
	b.env.Hosts = []Host{h}
	return nil
}

// setHosts adds the whitespace-separated items of one `hosts` line.
func (b *envBuilder) setHosts(v string) error {
	if line, ok := b.env.Lines["host"]; ok {
		return fmt.Errorf("host is already set at line %d; use either host (one) or hosts (several)", line)
	}
	for _, item := range strings.Fields(v) {
		h, err := parseHost(item)
		if err != nil {
			return err
		}
		if b.hosts[h] {
			return fmt.Errorf("%q is listed twice; give each host once", item)
		}
		b.hosts[h] = true
		b.env.Hosts = append(b.env.Hosts, h)
	}
	return nil
}

// setVar adds one `env NAME=value` variable.
func (b *envBuilder) setVar(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("%q has no '='; write it like: env NODE_ENV=production", v)
	}
	if err := checkVarName(name); err != nil {
		return err
	}
	if err := checkVarValue(name, value); err != nil {
		return err
	}
	if _, dup := b.env.Vars[name]; dup {
		return fmt.Errorf("%s is set twice; give each variable once", name)
	}
	if b.env.Vars == nil {
		b.env.Vars = map[string]string{}
	}
	b.env.Vars[name] = value
	return nil
}

// setShared adds the whitespace-separated paths of one `shared` line;
// those named like a file (.env, *.yml, …) are shared files.
func (b *envBuilder) setShared(v string) error {
	return b.addShared(v, false)
}

// setArtifact adds the paths of one `artifact` line: relative to the
// checkout, without . or ..; a trailing / (kept) ships the directory's
// content at the release's top level, as rsync reads it.
func (b *envBuilder) setArtifact(v string) error {
	for _, item := range strings.Fields(v) {
		p, err := cleanShared(item)
		if err != nil {
			return fmt.Errorf("artifact %s", strings.Replace(err.Error(), "release", "checkout", 1))
		}
		if strings.HasSuffix(item, "/") {
			p += "/"
		}
		if slices.Contains(b.env.Artifact, p) {
			return fmt.Errorf("%q is listed twice; give each path once", item)
		}
		b.env.Artifact = append(b.env.Artifact, p)
	}
	return nil
}

// setSharedFiles adds the paths of one `shared-files` line: shared paths
// that are files whatever their names.
func (b *envBuilder) setSharedFiles(v string) error {
	return b.addShared(v, true)
}

func (b *envBuilder) addShared(v string, files bool) error {
	for _, item := range strings.Fields(v) {
		p, err := cleanShared(item)
		if err != nil {
			return err
		}
		if b.shared[p] {
			return fmt.Errorf("%q is listed twice; give each path once", item)
		}
		b.shared[p] = true
		b.env.Shared = append(b.env.Shared, p)
		if files || sharedLooksLikeFile(item) {
			b.env.SharedFiles = append(b.env.SharedFiles, p)
		}
	}
	return nil
}
