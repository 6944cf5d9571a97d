package config

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/pelletier/go-toml/v2"
)

// tomlEnv is one environment table of deploy.toml. Every key of the INI
// form is here under the same name; the strict decoder refuses the rest.
type tomlEnv struct {
	Host           string            `toml:"host"`
	Hosts          []string          `toml:"hosts"`
	User           string            `toml:"user"`
	Port           int64             `toml:"port"`
	Key            string            `toml:"key"`
	SSHConfig      string            `toml:"ssh-config"`
	ForwardAgent   bool              `toml:"forward-agent"`
	ConnectTimeout string            `toml:"connect-timeout"`
	Repo           string            `toml:"repo"`
	Source         string            `toml:"source"`
	Path           string            `toml:"path"`
	Ref            string            `toml:"ref"`
	Shell          string            `toml:"shell"`
	NeedsTTY       bool              `toml:"needs_tty"`
	Env            map[string]string `toml:"env"`
	Shared         []string          `toml:"shared"`
	SharedFiles    []string          `toml:"shared-files"`
	PostSetup      string            `toml:"post-setup"`
	Build          string            `toml:"build"`
	BuildCommand   string            `toml:"build-command"`
	Artifact       []string          `toml:"artifact"`
	PreDeploy      string            `toml:"pre-deploy"`
	ReleaseCommand string            `toml:"release-command"`
	PostDeploy     string            `toml:"post-deploy"`
	Test           string            `toml:"test"`
	RestartFile    string            `toml:"restart-file"`
	Procmon        string            `toml:"procmon"`
	Healthcheck    string            `toml:"healthcheck"`
	Keep           int64             `toml:"keep"`
	Parallel       int64             `toml:"parallel"`
	Batch          int64             `toml:"batch"`
}

// ParseTOML reads the deploy.toml form from data; file is the path it came
// from. Each top-level table is an environment with the INI form's keys:
//
//	[production]
//	hosts = ["web1", "deploy@web2:2222"]
//	repo = "git@github.com:me/app.git"
//	path = "/var/www/app"
//	forward-agent = true
//	env = { NODE_ENV = "production" }
//
// Unknown keys and values of the wrong type are errors naming file, line
// and key; the values then pass the same checks as the INI form's.
func ParseTOML(file string, data []byte) (*Config, error) {
	dir, err := configDir(file)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var loose map[string]any
	if err := toml.Unmarshal(data, &loose); err != nil {
		return nil, tomlError(file, err)
	}
	layout, err := scanTOML(file, data)
	if err != nil {
		return nil, err
	}
	var envs map[string]tomlEnv
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&envs); err != nil {
		return nil, tomlError(file, err)
	}
	cfg := &Config{File: file, Envs: map[string]*Env{}, Broken: map[string]error{}}
	for _, te := range layout {
		if err := cfg.checkNewEnv(te.name, te.line); err != nil {
			return nil, err
		}
		b := newEnvBuilder(file, dir, te.name, te.line)
		b.fail(b.setTOML(envs[te.name], te.keys))
		cfg.Order = append(cfg.Order, te.name)
		cfg.addBuilt(b)
	}
	return cfg.usable("add a table like [production] with host, repo and path")
}

// setTOML feeds the builder the keys of one table in file order, each as
// the INI form would give it, so that both forms are validated alike.
func (b *envBuilder) setTOML(te tomlEnv, keys []tomlKey) error {
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].line < keys[j].line })
	for _, k := range keys {
		vals, err := te.values(k.name)
		if err != nil {
			return configErrf(b.file, k.line, k.name, "%v", err)
		}
		for _, v := range vals {
			if err := b.set(k.name, v, k.line); err != nil {
				return err
			}
		}
		if len(vals) == 0 && k.name != "env" && k.name != "shared" && k.name != "shared-files" {
			return configErrf(b.file, k.line, k.name, "is empty; list at least one value")
		}
		if _, seen := b.env.Lines[k.name]; !seen {
			b.env.Lines[k.name] = k.line
		}
	}
	return nil
}

// values returns the INI-form value(s) of the key name: one for a scalar,
// one per item for a list, `NAME=value` per variable for env.
func (te tomlEnv) values(name string) ([]string, error) {
	switch name {
	case "hosts":
		return oneWordItems(te.Hosts, "host")
	case "shared":
		return oneWordItems(te.Shared, "path")
	case "shared-files":
		return oneWordItems(te.SharedFiles, "path")
	case "artifact":
		return oneWordItems(te.Artifact, "path")
	case "env":
		return envItems(te.Env)
	case "port":
		return []string{strconv.FormatInt(te.Port, 10)}, nil
	case "keep":
		return []string{strconv.FormatInt(te.Keep, 10)}, nil
	case "parallel":
		return []string{strconv.FormatInt(te.Parallel, 10)}, nil
	case "batch":
		return []string{strconv.FormatInt(te.Batch, 10)}, nil
	case "forward-agent":
		return []string{strconv.FormatBool(te.ForwardAgent)}, nil
	case "needs_tty":
		return []string{strconv.FormatBool(te.NeedsTTY)}, nil
	}
	s, ok := te.strings()[name]
	if !ok {
		return nil, errors.New(unknownKeyProblem(name))
	}
	if strings.TrimSpace(s) != s {
		return nil, fmt.Errorf("%q has leading or trailing whitespace; remove it", s)
	}
	return []string{s}, nil
}

// strings maps the string-valued keys to their values.
func (te tomlEnv) strings() map[string]string {
	return map[string]string{
		"host": te.Host, "user": te.User, "key": te.Key, "ssh-config": te.SSHConfig, "connect-timeout": te.ConnectTimeout,
		"repo": te.Repo, "source": te.Source, "build-command": te.BuildCommand, "path": te.Path, "ref": te.Ref, "shell": te.Shell,
		"post-setup": te.PostSetup, "build": te.Build, "pre-deploy": te.PreDeploy, "release-command": te.ReleaseCommand, "post-deploy": te.PostDeploy,
		"test": te.Test, "restart-file": te.RestartFile, "procmon": te.Procmon, "healthcheck": te.Healthcheck,
	}
}

// oneWordItems refuses list items that the INI form could not express.
func oneWordItems(items []string, what string) ([]string, error) {
	for _, it := range items {
		if it == "" || len(strings.Fields(it)) != 1 || strings.TrimSpace(it) != it {
			return nil, fmt.Errorf("%q is not one %s; give each %s as its own string, without spaces", it, what, what)
		}
	}
	return items, nil
}

// envItems returns the variables as sorted `NAME=value` items.
func envItems(vars map[string]string) ([]string, error) {
	names := make([]string, 0, len(vars))
	for name := range vars {
		if err := checkVarName(name); err != nil {
			return nil, err
		}
		if err := checkVarValue(name, vars[name]); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	items := make([]string, len(names))
	for i, name := range names {
		v := vars[name]
		if strings.TrimRightFunc(v, unicode.IsSpace) != v {
			return nil, fmt.Errorf("%s: %q ends in whitespace, which the INI form cannot hold; remove it", name, v)
		}
		items[i] = name + "=" + v
	}
	return items, nil
}

// tomlError turns a go-toml error into an Error at its line and key.
func tomlError(file string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		de := &strict.Errors[0]
		row, _ := de.Position()
		key := envKeyOf(de.Key())
		return configErrf(file, row, key, "%s", unknownKeyProblem(key))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		key := envKeyOf(de.Key())
		if spec, ok := lookupKey(key); ok && strings.HasPrefix(msg, "cannot decode") {
			return configErrf(file, row, key, "wrong type; want %s, like %s", spec.toml.want(), tomlExample(spec))
		}
		return configErrf(file, row, key, "invalid TOML: %s", msg)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// envKeyOf returns the config key of a TOML key path [env, key, ...].
func envKeyOf(k toml.Key) string {
	if len(k) >= 2 {
		return k[1]
	}
	return ""
}

// tomlExample shows a key's example in TOML syntax.
func tomlExample(spec keySpec) string {
	switch spec.toml {
	case typeInt:
		return spec.name + " = " + spec.example
	case typeBool:
		return spec.name + " = true"
	case typeList:
		items := strings.Fields(spec.example)
		for i := range items {
			items[i] = strconv.Quote(items[i])
		}
		return spec.name + " = [" + strings.Join(items, ", ") + "]"
	case typeTable:
		name, value, _ := strings.Cut(spec.example, "=")
		return spec.name + " = { " + name + " = " + strconv.Quote(value) + " }"
	}
	return spec.name + " = " + strconv.Quote(spec.example)
}
