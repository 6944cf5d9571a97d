package remote

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// jumps resolves a ProxyJump chain (proxyJump, from alias's config), first
// hop first. As with OpenSSH, the first hop's own ProxyJump is followed
// too (it is reached through its own chain, or its ProxyCommand); later
// hops are reached through the previous one.
func jumps(res resolver, alias, proxyJump string, o Options, depth int) ([]Endpoint, error) {
	if proxyJump == "" || proxyJump == "none" {
		return nil, nil
	}
	if depth >= maxJumps {
		return nil, fmt.Errorf("ssh config %s: ProxyJump chain from Host %s is longer than %d hops (a loop?)", o.configName(), alias, maxJumps)
	}
	var out []Endpoint
	for i, spec := range strings.Split(proxyJump, ",") {
		user, host, port, err := parseJump(strings.TrimSpace(spec))
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: Host %s: ProxyJump: %w", o.configName(), alias, err)
		}
		if err := validAlias(host); err != nil {
			return nil, fmt.Errorf("ssh config %s: Host %s: ProxyJump: %w", o.configName(), alias, err)
		}
		hc, err := res.resolve(hostQuery{alias: host, user: user, port: port})
		if err != nil {
			return nil, fmt.Errorf("jump host %s: %w", host, err)
		}
		e := hc.endpoint(host)
		if o.KnownHostsFiles != nil {
			e.KnownHostsFiles, e.GlobalKnownHostsFiles = o.KnownHostsFiles, nil
		}
		if i == 0 {
			pre, err := jumps(res, host, hc.ProxyJump, o, depth+1)
			if err != nil {
				return nil, err
			}
			if len(pre) > 0 {
				e.ProxyCommand = "" // its own ProxyJump won over it
			}
			out = append(out, pre...)
		} else {
			e.ProxyCommand = "" // reached through the previous hop
		}
		out = append(out, e)
	}
	return out, nil
}

// parseJump splits a ProxyJump entry, [ssh://][user@]host[:port]; port 0
// means "not given".
func parseJump(spec string) (user, host string, port int, err error) {
	s := strings.TrimPrefix(spec, "ssh://")
	if s == "" {
		return "", "", 0, fmt.Errorf("empty hop in %q", spec)
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		user, s = s[:i], s[i+1:]
	}
	host = s
	if h, p, splitErr := net.SplitHostPort(s); splitErr == nil {
		host = h
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", "", 0, fmt.Errorf("hop %q: port %q is not a number in 1-65535", spec, p)
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return "", "", 0, fmt.Errorf("hop %q has no host", spec)
	}
	return user, host, port, nil
}
