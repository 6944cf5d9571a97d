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
// per pattern or NAME=value, as ssh -G prints them), stricthostkeychecking (accept-new with
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

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

func quotePath(p string) string {
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}
