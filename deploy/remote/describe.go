package remote

import (
	"strconv"
	"strings"
	"time"
)

// Describe resolves t as Dial would, without connecting, and returns what
// the connection will use as `ssh -G`'s own lowercase `keyword value`
// lines, for `deploy <env> config --ssh`: hostname, port, user,
// identityfile (one line per file, in the order keys are offered:
// Target.KeyFile first; agent keys come before files that are not in the
// agent), certificatefile, userknownhostsfile, hostkeyalias, proxyjump,
// proxycommand (tokens expanded), remotecommand (which Run refuses, as
// ssh refuses a command line beside it), sendenv and setenv (one line
// per pattern or NAME=value, as ssh -G prints them), the login and
// known_hosts keywords set away from their defaults (nonDefaults),
// stricthostkeychecking (accept-new with
// Options.AcceptNew), connecttimeout and serveraliveinterval (in seconds,
// as Options and their defaults make them; 0 = no keepalives). Lines for
// unset keywords (certificatefile, hostkeyalias, proxyjump, proxycommand,
// remotecommand) are left out; a path with a space is double-quoted.
func Describe(t Target, o Options) ([]string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := Resolve(t, o)
	if err != nil {
		return nil, err
	}
	return describe(r, o), nil
}

// describe renders a Resolved as ssh -G lines.
func describe(r *Resolved, o Options) []string {
	h := r.Host
	lines := []string{"hostname " + h.HostName, "port " + strconv.Itoa(h.Port), "user " + h.User}
	var ids []string
	if h.KeyFile != "" {
		ids = append(ids, h.KeyFile)
	}
	for _, f := range append(ids, h.IdentityFiles...) {
		lines = append(lines, "identityfile "+quotePath(f))
	}
	for _, f := range h.CertificateFiles {
		lines = append(lines, "certificatefile "+quotePath(f))
	}
	kh := "none"
	if len(h.KnownHostsFiles) > 0 {
		var q []string
		for _, f := range h.KnownHostsFiles {
			q = append(q, quotePath(f))
		}
		kh = strings.Join(q, " ")
	}
	lines = append(lines, "userknownhostsfile "+kh)
	optional := []struct{ key, value string }{
		{"hostkeyalias", h.HostKeyAlias}, {"proxyjump", r.ProxyJump}, {"proxycommand", h.ProxyCommand},
		{"remotecommand", h.RemoteCommand},
	}
	for _, kv := range optional {
		if kv.value != "" {
			lines = append(lines, kv.key+" "+kv.value)
		}
	}
	for _, p := range h.SendEnv {
		lines = append(lines, "sendenv "+p)
	}
	for _, kv := range h.SetEnv {
		lines = append(lines, "setenv "+kv)
	}
	lines = append(lines, nonDefaults(h)...)
	strict := h.StrictHostKeyChecking
	if strict == "" {
		strict = defaultStrict
	}
	if o.AcceptNew && strict != "false" {
		strict = "accept-new"
	}
	interval, _ := o.keepAlive(h)
	return append(lines,
		"stricthostkeychecking "+strict,
		"connecttimeout "+seconds(o.connectTimeout(h)),
		"serveraliveinterval "+seconds(interval))
}

// nonDefaults are the lines, as ssh -G prints them, of the keywords that
// change how deploy logs in and records host keys, for those set away
// from OpenSSH's defaults: batchmode, connectionattempts,
// numberofpasswordprompts, hashknownhosts, checkhostip, addkeystoagent,
// controlmaster, controlpath.
func nonDefaults(h Endpoint) []string {
	var lines []string
	if h.BatchMode {
		lines = append(lines, "batchmode yes")
	}
	if h.ConnectionAttempts > 1 {
		lines = append(lines, "connectionattempts "+strconv.Itoa(h.ConnectionAttempts))
	}
	if h.PasswordPrompts != defaultPasswordPrompts {
		lines = append(lines, "numberofpasswordprompts "+strconv.Itoa(h.PasswordPrompts))
	}
	if h.HashKnownHosts {
		lines = append(lines, "hashknownhosts yes")
	}
	if h.CheckHostIP {
		lines = append(lines, "checkhostip yes")
	}
	if h.AddKeysToAgent != "" {
		v := h.AddKeysToAgent // as ssh -G: true, ask or confirm, then the lifetime, which alone means yes
		switch {
		case v == "yes" && h.AddKeysLifetime > 0:
			v = seconds(h.AddKeysLifetime)
		case v == "yes":
			v = "true"
		case h.AddKeysLifetime > 0:
			v += " " + seconds(h.AddKeysLifetime)
		}
		lines = append(lines, "addkeystoagent "+v)
	}
	if m := h.ControlMaster; m != "" && m != "no" {
		if m == "yes" {
			m = "true"
		}
		lines = append(lines, "controlmaster "+m)
	}
	if h.ControlPath != "" {
		lines = append(lines, "controlpath "+h.ControlPath)
	}
	return lines
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

func quotePath(p string) string {
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}
