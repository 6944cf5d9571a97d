package remote

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxIncludeDepth bounds nested Include, as OpenSSH does.
const maxIncludeDepth = 16

// systemConfig is OpenSSH's system-wide client config.
const systemConfig = "/etc/ssh/ssh_config"

// builtinReader evaluates ssh_config itself, for machines without the
// OpenSSH client. It follows OpenSSH's rules for what it supports (first
// value wins, Host patterns with negation, Match host/originalhost/user/
// localuser/all, Include with globs, tokens) and refuses, naming file,
// line and keyword, what it cannot evaluate (Match exec, canonical, final,
// CanonicalizeHostname...): a wrong guess would dial another host.
type builtinReader struct {
	files       []configFile
	home        string // ~ and %d
	includeHome string // ~ and relative Include (OpenSSH globs with $HOME)
	localUser   string
}

// configFile is one top-level config: the user's (or -F) and the system's.
type configFile struct {
	path      string
	system    bool // relative Includes are under /etc/ssh, not ~/.ssh
	mustExist bool // -F: a missing file is an error, as with ssh
}

// newBuiltinReader reads what ssh would: -F's file alone, else
// ~/.ssh/config then /etc/ssh/ssh_config (just HomeDir's when HomeDir is
// not the login user's own: it stands in for `ssh -F`).
func newBuiltinReader(o Options) *builtinReader {
	r := &builtinReader{home: o.HomeDir, includeHome: o.HomeDir, localUser: localUser()}
	switch {
	case o.SSHConfigFile != "":
		r.files = []configFile{{path: o.SSHConfigFile, mustExist: true}}
	case o.ownHome:
		r.files = []configFile{{path: filepath.Join(o.HomeDir, ".ssh", "config")}}
	default:
		if h := os.Getenv("HOME"); h != "" {
			r.includeHome = h
		}
		r.files = []configFile{{path: filepath.Join(o.HomeDir, ".ssh", "config")}, {path: systemConfig, system: true}}
	}
	return r
}

// resolve evaluates every config file for q.
func (r *builtinReader) resolve(q hostQuery) (hostConfig, error) {
	ev := &evaluation{r: r, q: q, first: map[string]setting{}}
	for _, f := range r.files {
		if err := ev.readFile(f.path, f.system, 0, f.mustExist); err != nil {
			return hostConfig{}, err
		}
	}
	return ev.result()
}

// setting is one keyword line that applies: its arguments and where it is.
type setting struct {
	keyword string   // as written
	args    []string // unquoted arguments
	rest    string   // the raw text after the keyword (ProxyCommand)
	at      string   // "file:line"
}

// atError is an error in a config line, naming file:line and keyword.
func atError(at, keyword string, err error) error {
	return &Error{Op: "read ssh config", Host: at, Err: fmt.Errorf("%s: %w", keyword, err),
		hint: "fix that line, or install the OpenSSH client (ssh) so deploy resolves hosts with `ssh -G`"}
}

// evaluation is one host's pass over the config files.
type evaluation struct {
	r     *builtinReader
	q     hostQuery
	first map[string]setting // single-valued keywords: the first wins
	ids   []setting          // IdentityFile lines, in order
	certs []setting          // CertificateFile lines, in order
	// sendEnv are SendEnv patterns: every applying line adds its own, and
	// "-pattern" removes those it matches (OpenSSH's rm_env).
	sendEnv []string
}

// readFile evaluates one file; each file starts active, as in OpenSSH.
func (ev *evaluation) readFile(path string, system bool, depth int, mustExist bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read ssh config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	active := true
	for n := 1; sc.Scan(); n++ {
		key, rest := splitKeyword(sc.Text())
		if key == "" || strings.HasPrefix(key, "#") {
			continue
		}
		at := fmt.Sprintf("%s:%d", path, n)
		args, err := splitArgs(rest)
		if err != nil {
			return atError(at, key, err)
		}
		s := setting{keyword: key, args: args, rest: rest, at: at}
		if active, err = ev.line(strings.ToLower(key), key, s, active, system, depth); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read ssh config %s: %w", path, err)
	}
	return nil
}

// line evaluates one line and returns whether the block it leaves open is
// active.
func (ev *evaluation) line(key, keyword string, s setting, active, system bool, depth int) (bool, error) {
	switch key {
	case "host":
		if len(s.args) == 0 {
			return false, atError(s.at, keyword, errors.New("no pattern"))
		}
		return matchHost(ev.q.alias, s.args), nil
	case "match":
		return ev.match(keyword, s)
	case "include":
		if !active {
			return active, nil
		}
		for _, pattern := range s.args {
			if err := ev.include(pattern, keyword, s.at, system, depth); err != nil {
				return false, err
			}
		}
		return active, nil
	}
	if !active {
		return active, nil
	}
	return active, ev.apply(key, keyword, s)
}

// include reads the files pattern names (a glob; relative to ~/.ssh, or
// /etc/ssh for the system config), each in turn.
func (ev *evaluation) include(pattern, keyword, at string, system bool, depth int) error {
	if depth+1 > maxIncludeDepth {
		return atError(at, keyword, fmt.Errorf("includes nested deeper than %d", maxIncludeDepth))
	}
	p, err := expandTilde(pattern, ev.r.includeHome)
	if err != nil {
		return atError(at, keyword, err)
	}
	if !filepath.IsAbs(p) {
		if system {
			p = filepath.Join(filepath.Dir(systemConfig), p)
		} else {
			p = filepath.Join(ev.r.includeHome, ".ssh", p)
		}
	}
	files, err := filepath.Glob(p)
	if err != nil {
		return atError(at, keyword, err)
	}
	for _, f := range files {
		if err := ev.readFile(f, system, depth+1, true); err != nil {
			return err
		}
	}
	return nil
}

// apply records a keyword line of an active block.
func (ev *evaluation) apply(key, keyword string, s setting) error {
	if key == "challengeresponseauthentication" { // its old name, one option in OpenSSH
		key = "kbdinteractiveauthentication"
	}
	switch key {
	case "identityfile":
		ev.ids = append(ev.ids, s)
	case "certificatefile":
		ev.certs = append(ev.certs, s)
	case "proxycommand", "proxyjump":
		// They compete: whichever comes first wins, "none" included.
		_, pc := ev.first["proxycommand"]
		_, pj := ev.first["proxyjump"]
		if !pc && !pj {
			ev.first[key] = s
		}
	case "sendenv":
		return ev.sendEnvLine(keyword, s)
	case "setenv":
		for _, a := range s.args {
			if name, _, ok := strings.Cut(a, "="); !ok || name == "" {
				return atError(s.at, keyword, fmt.Errorf("%q is not NAME=value (ssh: \"Invalid SetEnv\")", a))
			}
		}
		if _, ok := ev.first[key]; !ok { // the first line that applies sets them all
			ev.first[key] = s
		}
	case "canonicalizehostname":
		if v := strings.ToLower(firstArg(s)); v != "no" && v != "false" {
			return atError(s.at, keyword, fmt.Errorf("%q is not evaluated by deploy's built-in ssh_config reader", firstArg(s)))
		}
	case "proxyusefdpass":
		if v := strings.ToLower(firstArg(s)); v == "yes" || v == "true" {
			return atError(s.at, keyword, errors.New("yes is not supported by deploy"))
		}
	default:
		if _, ok := ev.first[key]; !ok {
			ev.first[key] = s
		}
	}
	return nil
}

// sendEnvLine applies a SendEnv line as OpenSSH's readconf does: names
// (patterns) are added, and "-pattern" removes the ones added so far that
// it matches.
func (ev *evaluation) sendEnvLine(keyword string, s setting) error {
	for _, a := range s.args {
		if a == "" || strings.Contains(a, "=") {
			return atError(s.at, keyword, fmt.Errorf("%q is not an environment variable name (ssh: \"Invalid environment name\")", a))
		}
		if rm, ok := strings.CutPrefix(a, "-"); ok {
			ev.sendEnv = slices.DeleteFunc(ev.sendEnv, func(p string) bool { return wildcard(rm, p) })
			continue
		}
		ev.sendEnv = append(ev.sendEnv, a)
	}
	return nil
}

func firstArg(s setting) string {
	if len(s.args) == 0 {
		return ""
	}
	return s.args[0]
}

// splitKeyword splits a line into its keyword and the rest, as OpenSSH
// does: the keyword ends at whitespace or "=", and one "=" between
// whitespace may separate it from the value.
func splitKeyword(line string) (key, rest string) {
	const ws = " \t\f\r\n"
	s := strings.TrimLeft(line, ws)
	end := strings.IndexAny(s, ws+"=")
	if end < 0 {
		return s, ""
	}
	key, s = s[:end], strings.TrimLeft(s[end:], ws)
	if strings.HasPrefix(s, "=") {
		s = strings.TrimLeft(s[1:], ws)
	}
	return key, strings.TrimRight(s, ws)
}

// splitArgs splits a value into arguments as OpenSSH's argv_split does:
// whitespace separates, single or double quotes group (and are removed),
// a backslash escapes a quote, a backslash or a space, and a "#" that
// starts an argument starts a comment.
func splitArgs(s string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) || s[i] == '#' {
			return args, nil
		}
		var b strings.Builder
		var quote byte
		for ; i < len(s) && (quote != 0 || !isSpace(s[i])); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && (strings.IndexByte(`'"\`, s[i+1]) >= 0 || (quote == 0 && s[i+1] == ' ')):
				i++
				b.WriteByte(s[i])
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case c == quote:
				quote = 0
			default:
				b.WriteByte(c)
			}
		}
		if quote != 0 {
			return nil, errors.New("unterminated quote")
		}
		args = append(args, b.String())
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' || c == '\r' || c == '\n' }
