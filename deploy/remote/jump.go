package remote

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// jumps resolves alias's ProxyJump chain, first hop first. As with
// OpenSSH, the first hop's own ProxyJump is followed too (it is reached
// through its own chain); later hops are reached through the previous one.
func (c *sshConfig) jumps(alias string, knownHosts []string, depth int) ([]Endpoint, error) {
	v := c.get(alias, "ProxyJump")
	if v == "" || v == "none" {
		return nil, nil
	}
	if depth >= maxJumps {
		return nil, fmt.Errorf("ssh config %s: ProxyJump chain from Host %s is longer than %d hops (a loop?)", c.file, alias, maxJumps)
	}
	var out []Endpoint
	for i, spec := range strings.Split(v, ",") {
		user, host, port, err := parseJump(strings.TrimSpace(spec))
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: Host %s: ProxyJump: %w", c.file, alias, err)
		}
		e, err := c.endpoint(host, user, port, knownHosts)
		if err != nil {
			return nil, fmt.Errorf("jump host %s: %w", host, err)
		}
		if i == 0 {
			pre, err := c.jumps(host, knownHosts, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, pre...)
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
