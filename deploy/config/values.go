package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxCount bounds keep, parallel and batch: far above any real fleet, low
// enough that nothing downstream overflows or allocates absurdly.
const maxCount = 10000

// parseBool reads yes/no/true/false/on/off/1/0 in any case.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; write yes or no", v)
}

func setBool(dst *bool, v string) error {
	b, err := parseBool(v)
	*dst = b
	return err
}

// parsePort reads a TCP port, 1 to 65535.
func parsePort(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port; give a number from 1 to 65535", v)
	}
	return n, nil
}

func setPort(dst *int, v string) error {
	n, err := parsePort(v)
	*dst = n
	return err
}

// setCount reads a positive count of what (keep, parallel, batch).
func setCount(dst *int, v, what string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a number; give the number of %s", v, what)
	}
	if n < 1 || n > maxCount {
		return fmt.Errorf("%d is out of range; give from 1 to %d %s (leave the key out for the default)", n, maxCount, what)
	}
	*dst = n
	return nil
}

func setDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like 10s, 1m30s or 500ms", v)
	}
	if d <= 0 {
		return fmt.Errorf("%q must be positive; write it like 10s", v)
	}
	*dst = d
	return nil
}

// setArg stores a value that reaches a command line as one argument (repo,
// restart-file, procmon): one word, never starting with '-' so that it can
// never be read as an option.
func setArg(dst *string, v string) error {
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return fmt.Errorf("%q contains whitespace; give a single value", v)
	}
	if strings.HasPrefix(v, "-") {
		return fmt.Errorf("%q starts with '-' and could be read as an option; fix the value", v)
	}
	*dst = v
	return nil
}

// setName stores a user name: one word, no '@' or ':', no leading '-'.
func setName(dst *string, v, what string) error {
	if err := setArg(dst, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, "@:/") {
		*dst = ""
		return fmt.Errorf("%q is not a %s; it cannot contain '@', ':' or '/'", v, what)
	}
	return nil
}

// setRef stores the ref to deploy, checked as git checks ref names (a
// leading origin/ is the branch of the origin, as in the classic tool).
func setRef(dst *string, v string) error {
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return fmt.Errorf("%q contains whitespace; give a branch, tag or sha", v)
	}
	if strings.HasPrefix(v, "-") {
		return fmt.Errorf("%q starts with '-'; give a branch, tag or sha", v)
	}
	if err := checkRef(strings.TrimPrefix(v, "origin/")); err != nil {
		return err
	}
	*dst = v
	return nil
}

// setRelPath stores a path relative to the release (restart-file).
func setRelPath(dst *string, v string) error {
	if err := setArg(dst, v); err != nil {
		return err
	}
	if err := checkRelPath(v); err != nil {
		*dst = ""
		return err
	}
	return nil
}

// setServerFile stores the path of a file on the server (procmon's config).
func setServerFile(dst *string, key, v, example string) error {
	if err := setArg(dst, v); err != nil {
		return err
	}
	if err := checkServerFile(key, v, example); err != nil {
		*dst = ""
		return err
	}
	return nil
}

func setShell(dst *string, v string) error {
	switch v {
	case "bash", "login":
		*dst = v
		return nil
	}
	return fmt.Errorf("%q is not a hook shell; write bash (bash -c) or login (bash -lc, loads the profile)", v)
}

// setBuild stores how a release is built: auto (detect the stack) or none.
func setBuild(dst *string, v string) error {
	switch v {
	case "auto", "local":
		*dst = v
		return nil
	case "none":
		*dst = ""
		return nil
	}
	return fmt.Errorf("%q is not a build mode; write auto (detect the stack and build it on the server), local (build-command on the laptop, ship the artifact) or none (only pre-deploy)", v)
}

// setSource stores how commits reach the server: fetch (the default, ""),
// or push.
func setSource(dst *string, v string) error {
	switch v {
	case "fetch":
		*dst = ""
		return nil
	case "push":
		*dst = v
		return nil
	}
	return fmt.Errorf("%q is not a source; write fetch (the server fetches repo, the default) or push (the laptop sends the commits over the deploy's SSH connection)", v)
}

// setHealthcheck stores a path (/healthz) or an http(s) URL polled from the
// server.
func setHealthcheck(dst *string, v string) error {
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return fmt.Errorf("%q contains whitespace; give a path like /healthz or a URL", v)
	}
	if strings.HasPrefix(v, "/") {
		*dst = v
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is neither a path nor an http URL; write /healthz or http://127.0.0.1:3000/healthz", v)
	}
	*dst = v
	return nil
}

// parseHost reads one `[user@]host[:port]` item; IPv6 addresses with a port
// are bracketed ([::1]:2222), a bare IPv6 address has no port.
func parseHost(v string) (Host, error) {
	var h Host
	rest := v
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		h.User, rest = rest[:i], rest[i+1:]
		if err := setName(&h.User, h.User, "user name"); err != nil || h.User == "" {
			return Host{}, fmt.Errorf("%q has a bad user before '@'; write user@host", v)
		}
	}
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.Index(rest, "]")
		if end < 0 {
			return Host{}, fmt.Errorf("%q has no closing ']'; write [::1]:2222", v)
		}
		h.Name, rest = rest[1:end], rest[end+1:]
		if net.ParseIP(h.Name) == nil {
			return Host{}, fmt.Errorf("%q: %q in brackets is not an IP address", v, h.Name)
		}
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return Host{}, fmt.Errorf("%q has text after ']'; write [::1]:2222", v)
			}
			port, err := parsePort(rest[1:])
			if err != nil {
				return Host{}, fmt.Errorf("%q: %v", v, err)
			}
			h.Port = port
		}
		return h, nil
	case strings.Count(rest, ":") == 1:
		i := strings.Index(rest, ":")
		port, err := parsePort(rest[i+1:])
		if err != nil {
			return Host{}, fmt.Errorf("%q: %v", v, err)
		}
		h.Name, h.Port = rest[:i], port
	case strings.Count(rest, ":") > 1:
		if net.ParseIP(rest) == nil {
			return Host{}, fmt.Errorf("%q is not a host; write host, host:port, or [ipv6]:port", v)
		}
		h.Name = rest
		return h, nil
	default:
		h.Name = rest
	}
	return h, checkHostName(v, h.Name)
}

// checkHostName accepts names, addresses and ssh_config aliases, refusing
// only what no host can be.
func checkHostName(item, name string) error {
	if name == "" {
		return fmt.Errorf("%q has no host name", item)
	}
	if strings.HasPrefix(name, "-") {
		return fmt.Errorf("%q starts with '-'; give a host name", item)
	}
	if strings.ContainsAny(name, "/\\[]@,;'\"`$") {
		return fmt.Errorf("%q is not a host name", item)
	}
	return nil
}

// String returns the host as `[user@]name[:port]`, bracketing an IPv6
// address that has a port; parseHost reads it back.
func (h Host) String() string {
	s := h.Name
	if h.Port != 0 {
		if strings.Contains(s, ":") {
			s = "[" + s + "]"
		}
		s += ":" + strconv.Itoa(h.Port)
	}
	if h.User != "" {
		s = h.User + "@" + s
	}
	return s
}

// validVarName reports whether s is a shell identifier.
func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// deploySettings are the DEPLOY_ variables the remote script reads as
// settings from the env key: the procmon binary the gate, status and logs
// run, the healthcheck's timeout in seconds, "no curl" (use bash's
// /dev/tcp), and how build auto's cached installs reach a release.
var deploySettings = map[string]bool{
	"DEPLOY_PROCMON": true, "DEPLOY_HEALTH_TIMEOUT": true, "DEPLOY_NO_CURL": true, "DEPLOY_CACHE_METHOD": true,
}

// checkVarValue refuses a DEPLOY_ setting's value the remote script
// would refuse, before anything is sent.
func checkVarValue(name, value string) error {
	if name == "DEPLOY_CACHE_METHOD" {
		switch value {
		case "reflink", "link", "hardlink", "copy":
		default:
			return fmt.Errorf("%s=%q: use reflink, link, hardlink or copy (or leave it out: the server picks the cheapest safe one)", name, value)
		}
	}
	return nil
}

// checkVarName refuses names that are not shell identifiers and the
// DEPLOY_ names the deploy sets itself (the hook contract), allowing the
// DEPLOY_ settings the remote script reads.
func checkVarName(name string) error {
	if !validVarName(name) {
		return fmt.Errorf("%q is not a variable name; use letters, digits and _ (not first), like NODE_ENV", name)
	}
	if strings.HasPrefix(name, "DEPLOY_") && !deploySettings[name] {
		return fmt.Errorf("%s: names starting with DEPLOY_ are set by deploy itself (DEPLOY_PROCMON, DEPLOY_HEALTH_TIMEOUT, DEPLOY_NO_CURL and DEPLOY_CACHE_METHOD are the settings you may give); choose another name", name)
	}
	return nil
}

// sharedFileExts are the extensions that make a `shared` entry a file.
func sharedFileExts() []string {
	return []string{".env", ".yml", ".yaml", ".json", ".toml", ".ini", ".conf", ".cfg",
		".properties", ".key", ".pem", ".crt", ".txt", ".sqlite", ".sqlite3", ".db", ".log",
		".rb", ".js", ".py", ".php", ".xml"}
}

// sharedLooksLikeFile tells whether a `shared` entry names a file: .env,
// .env.<anything>, or a name with one of sharedFileExts. An entry written
// with a trailing '/' is a directory whatever its name; so is every other
// name (log, tmp/pids, .bundle), unless listed under `shared-files`.
func sharedLooksLikeFile(entry string) bool {
	if strings.HasSuffix(entry, "/") {
		return false
	}
	base := path.Base(entry)
	if base == ".env" || strings.HasPrefix(base, ".env.") {
		return true
	}
	ext := path.Ext(base)
	return ext != "" && ext != base && slices.Contains(sharedFileExts(), strings.ToLower(ext))
}

// cleanShared checks one `shared` path: relative, inside the release.
func cleanShared(v string) (string, error) {
	if strings.HasPrefix(v, "/") {
		return "", fmt.Errorf("%q is absolute; give a path relative to the release, like log or .env", v)
	}
	if strings.HasPrefix(v, "-") {
		return "", fmt.Errorf("%q starts with '-'; give a path relative to the release", v)
	}
	p := path.Clean(v)
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%q is not inside the release; give a path like log or config/master.key", v)
	}
	return p, nil
}
