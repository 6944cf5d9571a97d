package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseINI reads the classic deploy.conf form from data; file is the path
// it came from, used in messages and to resolve a relative `key`.
//
// The form is the classic bash deploy's: `[env]` section headers, then
// `key value` lines where the key ends at the first whitespace and the value
// is the rest of the line, trimmed (no quoting, no inline comments: a '#'
// inside a value is kept). Lines whose first non-blank character is '#' are
// comments; blank lines are ignored. The keys that take several values
// (hosts, env, shared) may repeat; every other key may appear once.
func ParseINI(file string, data []byte) (*Config, error) {
	dir, err := configDir(file)
	if err != nil {
		return nil, err
	}
	cfg := &Config{File: file, Envs: map[string]*Env{}, Broken: map[string]error{}}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var cur *envBuilder
	for i, raw := range strings.Split(string(data), "\n") {
		line := i + 1
		text := strings.TrimSpace(raw)
		switch {
		case !utf8.ValidString(raw) && cur != nil:
			cur.fail(configErrf(file, line, "", "not valid UTF-8; save the file as UTF-8"))
		case !utf8.ValidString(raw):
			return nil, configErrf(file, line, "", "not valid UTF-8; save the file as UTF-8")
		case text == "" || strings.HasPrefix(text, "#"):
			continue
		case strings.HasPrefix(text, "["):
			cfg.addBuilt(cur)
			if cur, err = cfg.iniSection(dir, text, line); err != nil {
				return nil, err
			}
		case cur == nil:
			key, _ := splitKeyValue(text)
			return nil, configErrf(file, line, key, "outside any section; put it under an [env] header like [production]")
		case cur.err == nil:
			key, val := splitKeyValue(text)
			cur.fail(cur.set(key, val, line))
		}
	}
	cfg.addBuilt(cur)
	return cfg.usable("add a section like [production] with host, repo and path")
}

// usable returns the config when at least one environment read without
// error; otherwise the first environment's error (or, with none at all,
// an error saying to add one, as hint says).
func (c *Config) usable(hint string) (*Config, error) {
	if len(c.Order) == 0 {
		return nil, configErrf(c.File, 0, "", "no environment; %s", hint)
	}
	if len(c.Envs) == 0 {
		return nil, c.Broken[c.Order[0]]
	}
	return c, nil
}

// iniSection starts the section whose header is text.
func (c *Config) iniSection(dir, text string, line int) (*envBuilder, error) {
	if !strings.HasSuffix(text, "]") || strings.Count(text, "[") != 1 || strings.Count(text, "]") != 1 {
		return nil, configErrf(c.File, line, "", "bad section header %q; write it like [production] alone on its line", text)
	}
	name := strings.TrimSpace(text[1 : len(text)-1])
	if err := c.checkNewEnv(name, line); err != nil {
		return nil, err
	}
	c.Order = append(c.Order, name)
	return newEnvBuilder(c.File, dir, name, line), nil
}

// checkNewEnv refuses a bad or repeated environment name.
func (c *Config) checkNewEnv(name string, line int) error {
	if !validEnvName(name) {
		return configErrf(c.File, line, "", "bad environment name %q; use letters, digits, '.', '_' and '-', like production", name)
	}
	if slices.Contains(c.Order, name) {
		return configErrf(c.File, line, "", "environment %q is defined twice; merge the two sections", name)
	}
	return nil
}

// addBuilt finishes the builder (if any) and stores its env, or, when
// the section has an error, that error in Broken: a bad section stops
// only its own environment, as with the classic tool.
func (c *Config) addBuilt(b *envBuilder) {
	if b == nil {
		return
	}
	name := b.env.Name
	if b.err != nil {
		c.Broken[name] = b.err
		return
	}
	env, err := b.finish()
	if err != nil {
		c.Broken[name] = err
		return
	}
	c.Envs[name] = env
}

// splitKeyValue splits a trimmed line at its first whitespace.
func splitKeyValue(text string) (key, val string) {
	i := strings.IndexFunc(text, unicode.IsSpace)
	if i < 0 {
		return text, ""
	}
	return text[:i], strings.TrimSpace(text[i:])
}

// validEnvName reports whether name can name an environment.
func validEnvName(name string) bool {
	if name == "" || name[0] == '-' || name[0] == '.' || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !isKeyRune(r) {
			return false
		}
	}
	return true
}

// configDir returns the absolute directory of the config file.
func configDir(file string) (string, error) {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return "", fmt.Errorf("config %s: %w", file, err)
	}
	return dir, nil
}
