package remote

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result turns the settings that applied into a hostConfig, with
// OpenSSH's defaults for the rest; a bad value names its line.
func (ev *evaluation) result() (hostConfig, error) {
	h := hostConfig{User: ev.q.user, Port: ev.q.port, StrictHostKeyChecking: defaultStrict,
		ServerAliveCountMax: defaultAliveCountMx}
	var err error
	if h.HostName, err = ev.hostName(); err != nil {
		return hostConfig{}, err
	}
	h.HostName = strings.ToLower(h.HostName)
	if h.User == "" {
		h.User = ev.remoteUser()
	}
	if h.Port == 0 {
		if h.Port, err = ev.int("port", 22, 1, 65535); err != nil {
			return hostConfig{}, err
		}
	}
	if err := ev.scalars(&h); err != nil {
		return hostConfig{}, err
	}
	t := tokens{home: ev.r.home, hostName: h.HostName, alias: ev.q.alias, port: h.Port, user: h.User,
		localUser: ev.r.localUser, keyAlias: h.HostKeyAlias}
	if err := ev.paths(&h, t); err != nil {
		return hostConfig{}, err
	}
	if s, ok := ev.first["proxycommand"]; ok && s.rest != "none" {
		if h.ProxyCommand, err = t.expandPercent(s.rest, proxyTokens); err != nil {
			return hostConfig{}, atError(s.at, s.keyword, err)
		}
	}
	if s, ok := ev.first["remotecommand"]; ok && s.rest != "none" {
		h.RemoteCommand, h.RemoteCommandAt = s.rest, s.at
	}
	h.SendEnv, h.SetEnv = ev.sendEnv, setEnvList(ev.first["setenv"].args)
	h.BatchMode = isYes(ev.str("batchmode"))
	h.HashKnownHosts, h.CheckHostIP = isYes(ev.str("hashknownhosts")), isYes(ev.str("checkhostip"))
	if h.ConnectionAttempts, err = ev.int("connectionattempts", 1, 1, 1<<20); err != nil {
		return hostConfig{}, err
	}
	if s, ok := ev.first["addkeystoagent"]; ok {
		if h.AddKeysToAgent, h.AddKeysLifetime, err = addKeysValue(s.args); err != nil {
			return hostConfig{}, atError(s.at, s.keyword, err)
		}
	}
	h.AuthMethods = authMethods(ev.str("preferredauthentications"), !authOff(ev.str("pubkeyauthentication")),
		!authOff(ev.str("kbdinteractiveauthentication")), !authOff(ev.str("passwordauthentication")))
	if h.PasswordPrompts, err = ev.int("numberofpasswordprompts", defaultPasswordPrompts, 0, 1<<20); err != nil {
		return hostConfig{}, err
	}
	return h, nil
}

// setEnvList is a SetEnv line's entries with a repeated name left out,
// as OpenSSH ignores it ("ignoring duplicate env name").
func setEnvList(args []string) []string {
	var list []string
	seen := map[string]bool{}
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if !seen[name] {
			seen[name] = true
			list = append(list, a)
		}
	}
	return list
}

// scalars fills the single-valued keywords that need no expansion.
func (ev *evaluation) scalars(h *hostConfig) error {
	h.HostKeyAlias = ev.str("hostkeyalias")
	if v := ev.str("proxyjump"); v != "none" {
		h.ProxyJump = v
	}
	if s, ok := ev.first["stricthostkeychecking"]; ok {
		v, err := strictValue(firstArg(s))
		if err != nil {
			return atError(s.at, s.keyword, err)
		}
		h.StrictHostKeyChecking = v
	}
	var err error
	if h.ConnectTimeout, err = ev.duration("connecttimeout"); err != nil {
		return err
	}
	if h.ServerAliveInterval, err = ev.duration("serveraliveinterval"); err != nil {
		return err
	}
	if h.ServerAliveCountMax, err = ev.int("serveralivecountmax", defaultAliveCountMx, 0, 1<<20); err != nil {
		return err
	}
	h.IdentitiesOnly = isYes(ev.str("identitiesonly"))
	h.ForwardAgent = isYes(ev.str("forwardagent"))
	return nil
}

// paths expands IdentityFile, CertificateFile, the known_hosts files and
// IdentityAgent.
func (ev *evaluation) paths(h *hostConfig, t tokens) error {
	var err error
	if h.IdentityFiles, err = ev.fileList(ev.ids, t); err != nil {
		return err
	}
	if len(ev.ids) == 0 {
		for _, f := range defaultIdentityFiles() {
			h.IdentityFiles = append(h.IdentityFiles, expandHome(f, ev.r.home))
		}
	}
	if h.CertificateFiles, err = ev.fileList(ev.certs, t); err != nil {
		return err
	}
	if h.UserKnownHostsFiles, err = ev.knownHosts("userknownhostsfile", defaultUserKnownHosts(), t); err != nil {
		return err
	}
	if h.GlobalKnownHostsFiles, err = ev.knownHosts("globalknownhostsfile", defaultGlobalKnownHosts(), t); err != nil {
		return err
	}
	if s, ok := ev.first["identityagent"]; ok {
		v := firstArg(s)
		if v != "none" && v != "SSH_AUTH_SOCK" && !strings.HasPrefix(v, "$") {
			if v, err = t.expandPath(v); err != nil {
				return atError(s.at, s.keyword, err)
			}
		}
		h.IdentityAgent = v
	}
	if s, ok := ev.first["controlpath"]; ok && firstArg(s) != "none" {
		if h.ControlPath, err = t.expandPath(firstArg(s)); err != nil {
			return atError(s.at, s.keyword, err)
		}
	}
	if s, ok := ev.first["controlmaster"]; ok {
		if h.ControlMaster, err = controlMasterValue(firstArg(s)); err != nil {
			return atError(s.at, s.keyword, err)
		}
	}
	return nil
}

// controlMasterValue is ControlMaster's value as ssh -G prints it: yes,
// no, ask, auto or autoask (true and false are yes and no).
func controlMasterValue(v string) (string, error) {
	switch v = strings.ToLower(v); v {
	case "yes", "true":
		return "yes", nil
	case "no", "false", "":
		return "no", nil
	case "ask", "auto", "autoask":
		return v, nil
	}
	return "", fmt.Errorf("ControlMaster %q is not yes, no, ask, auto or autoask", v)
}

// fileList expands IdentityFile or CertificateFile lines, skipping
// repeats of one value as OpenSSH does.
func (ev *evaluation) fileList(lines []setting, t tokens) ([]string, error) {
	var out, seen []string
	for _, s := range lines {
		v := firstArg(s)
		if v == "" || slices.Contains(seen, v) {
			continue
		}
		seen = append(seen, v)
		x, err := t.expandPath(v)
		if err != nil {
			return nil, atError(s.at, s.keyword, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// knownHosts expands a known_hosts keyword's files (nil for "none").
func (ev *evaluation) knownHosts(key string, def []string, t tokens) ([]string, error) {
	files := def
	s, ok := ev.first[key]
	if ok {
		files = s.args
	}
	if len(files) == 1 && files[0] == "none" {
		return nil, nil
	}
	var out []string
	for _, f := range files {
		x, err := t.expandPath(f)
		if err != nil {
			return nil, atError(s.at, s.keyword, err)
		}
		out = append(out, x)
	}
	return out, nil
}

func (ev *evaluation) str(key string) string { return firstArg(ev.first[key]) }

// int reads an integer keyword in [min, max] (def when not set).
func (ev *evaluation) int(key string, def, minV, maxV int) (int, error) {
	s, ok := ev.first[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(firstArg(s))
	if err != nil || n < minV || n > maxV {
		return 0, atError(s.at, s.keyword, fmt.Errorf("%q is not a number in %d-%d", firstArg(s), minV, maxV))
	}
	return n, nil
}

// duration reads a time keyword in OpenSSH's format (0 when not set).
func (ev *evaluation) duration(key string) (time.Duration, error) {
	s, ok := ev.first[key]
	if !ok || firstArg(s) == "none" {
		return 0, nil
	}
	d, err := convTime(firstArg(s))
	if err != nil {
		return 0, atError(s.at, s.keyword, err)
	}
	return d, nil
}

// convTime reads OpenSSH's time format: a number of seconds, or numbers
// each followed by s, m, h, d or w ("1m30s").
func convTime(v string) (time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'S': time.Second, 'm': time.Minute, 'M': time.Minute,
		'h': time.Hour, 'H': time.Hour, 'd': 24 * time.Hour, 'D': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'W': 7 * 24 * time.Hour}
	bad := fmt.Errorf("%q is not a time (seconds, or e.g. 1m30s)", v)
	if v == "" {
		return 0, bad
	}
	var total time.Duration
	for v != "" {
		i := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, bad
		}
		n, _ := strconv.Atoi(v[:i])
		unit := time.Second
		if i < len(v) {
			u, ok := units[v[i]]
			if !ok {
				return 0, bad
			}
			unit, i = u, i+1
		}
		total += time.Duration(n) * unit
		v = v[i:]
	}
	return total, nil
}

// strictValue is StrictHostKeyChecking as ssh -G prints it.
func strictValue(v string) (string, error) {
	switch strings.ToLower(v) {
	case "yes", "true":
		return "true", nil
	case "no", "false", "off":
		return "false", nil
	case "ask":
		return "ask", nil
	case "accept-new":
		return "accept-new", nil
	}
	return "", errors.New("want yes, no, ask or accept-new")
}

func isYes(v string) bool { return strings.EqualFold(v, "yes") || strings.EqualFold(v, "true") }
