package config

import (
	"fmt"
	"strings"
)

// keyType is the TOML type a key takes (the INI form is always text).
type keyType int

const (
	typeString keyType = iota
	typeInt
	typeBool
	typeList
	typeTable
)

// want describes the TOML type for "wrong type" messages.
func (t keyType) want() string {
	switch t {
	case typeInt:
		return "an integer"
	case typeBool:
		return "a boolean (true or false)"
	case typeList:
		return "a list of strings"
	case typeTable:
		return "a table of strings"
	}
	return "a string"
}

// keySpec describes one config key: its name, whether it may be given more
// than once (INI), an example value, its TOML type and how it is stored.
type keySpec struct {
	name    string
	repeat  bool
	example string
	toml    keyType
	set     func(b *envBuilder, val string) error
}

// configKeys lists every key in the order `deploy <env> config` prints them.
// It is a function, not a package variable, so that nothing global mutates.
func configKeys() []keySpec {
	return []keySpec{
		{name: "host", example: "example.com", set: (*envBuilder).setHost},
		{name: "hosts", repeat: true, example: "web1 deploy@web2:2222", toml: typeList, set: (*envBuilder).setHosts},
		{name: "user", example: "deploy", set: func(b *envBuilder, v string) error { return setName(&b.env.User, v, "user name") }},
		{name: "port", example: "22", toml: typeInt, set: func(b *envBuilder, v string) error { return setPort(&b.env.Port, v) }},
		{name: "key", example: "~/.ssh/id_ed25519", set: (*envBuilder).setKey},
		{name: "ssh-config", example: "ssh_config", set: (*envBuilder).setSSHConfig},
		{name: "forward-agent", example: "yes", toml: typeBool, set: func(b *envBuilder, v string) error { return setBool(&b.env.ForwardAgent, v) }},
		{name: "connect-timeout", example: "10s", set: func(b *envBuilder, v string) error { return setDuration(&b.env.ConnectTimeout, v) }},
		{name: "repo", example: "git@github.com:me/app.git", set: func(b *envBuilder, v string) error { return setArg(&b.env.Repo, v) }},
		{name: "source", example: "push", set: func(b *envBuilder, v string) error { return setSource(&b.env.Source, v) }},
		{name: "path", example: "/var/www/app", set: func(b *envBuilder, v string) error { return setServerPath(&b.env.Path, v) }},
		{name: "ref", example: "origin/main", set: func(b *envBuilder, v string) error { return setRef(&b.env.Ref, v) }},
		{name: "shell", example: "login", set: func(b *envBuilder, v string) error { return setShell(&b.env.Shell, v) }},
		{name: "needs_tty", example: "yes", toml: typeBool, set: func(b *envBuilder, v string) error { return setBool(&b.env.NeedsTTY, v) }},
		{name: "env", repeat: true, example: "NODE_ENV=production", toml: typeTable, set: (*envBuilder).setVar},
		{name: "shared", repeat: true, example: ".env log", toml: typeList, set: (*envBuilder).setShared},
		{name: "shared-files", repeat: true, example: "config/master.key", toml: typeList, set: (*envBuilder).setSharedFiles},
		{name: "post-setup", example: "./bin/setup", set: func(b *envBuilder, v string) error { b.env.PostSetup = v; return nil }},
		{name: "build", example: "auto", set: func(b *envBuilder, v string) error { return setBuild(&b.env.Build, v) }},
		{name: "build-command", example: "go build -o dist/app ./cmd/app", set: func(b *envBuilder, v string) error { b.env.BuildCommand = v; return nil }},
		{name: "artifact", repeat: true, example: "dist/", toml: typeList, set: (*envBuilder).setArtifact},
		{name: "pre-deploy", example: "npm ci && npm run build", set: func(b *envBuilder, v string) error { b.env.PreDeploy = v; return nil }},
		{name: "release-command", example: "./manage.py migrate", set: func(b *envBuilder, v string) error { b.env.ReleaseCommand = v; return nil }},
		{name: "post-deploy", example: "./bin/deploy", set: func(b *envBuilder, v string) error { b.env.PostDeploy = v; return nil }},
		{name: "test", example: "./bin/smoke-test", set: func(b *envBuilder, v string) error { b.env.Test = v; return nil }},
		{name: "restart-file", example: "tmp/restart.txt", set: func(b *envBuilder, v string) error { return setRelPath(&b.env.RestartFile, v) }},
		{name: "procmon", example: "/etc/procmon/app.toml", set: func(b *envBuilder, v string) error {
			return setServerFile(&b.env.Procmon, "procmon", v, "/etc/procmon/app.toml")
		}},
		{name: "healthcheck", example: "/healthz", set: func(b *envBuilder, v string) error { return setHealthcheck(&b.env.Healthcheck, v) }},
		{name: "keep", example: "5", toml: typeInt, set: func(b *envBuilder, v string) error { return setCount(&b.env.Keep, v, "releases to keep") }},
		{name: "parallel", example: "10", toml: typeInt, set: func(b *envBuilder, v string) error { return setCount(&b.env.Parallel, v, "connections") }},
		{name: "batch", example: "2", toml: typeInt, set: func(b *envBuilder, v string) error { return setCount(&b.env.Batch, v, "hosts per batch") }},
	}
}

// lookupKey finds a key's spec by its exact name.
func lookupKey(name string) (keySpec, bool) {
	for _, k := range configKeys() {
		if k.name == name {
			return k, true
		}
	}
	return keySpec{}, false
}

// Keys returns the names of every config key, in the order
// `deploy <env> config` prints them.
func Keys() []string {
	keys := configKeys()
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}

// unknownKeyProblem says a key is unknown and suggests the nearest known
// one (needs-tty for needs_tty, forward_agent for forward-agent, typos).
func unknownKeyProblem(key string) string {
	best, bestDist := "", 3
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "-")) }
	for _, name := range Keys() {
		if norm(name) == norm(key) {
			best, bestDist = name, 0
			break
		}
		if d := editDistance(norm(name), norm(key)); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key; did you mean %q?", best)
	}
	return "unknown key; known keys are " + strings.Join(Keys(), " ")
}

// editDistance is the Levenshtein distance between a and b, bounded in
// cost by the short key names it is used on (longer inputs are cut).
func editDistance(a, b string) int {
	const limit = 64
	if len(a) > limit {
		a = a[:limit]
	}
	if len(b) > limit {
		b = b[:limit]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
