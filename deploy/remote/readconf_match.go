package remote

import (
	"errors"
	"fmt"
	"strings"
)

// matchHost evaluates a Host line's patterns against the host name asked
// for, as OpenSSH does: case-sensitive, any pattern may match, and a
// negated pattern (!p) that matches rejects the whole line.
func matchHost(host string, patterns []string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if wildcard(p, host) {
			if neg {
				return false
			}
			matched = true
		}
	}
	return matched
}

// matchList evaluates a comma-separated pattern list as OpenSSH's
// match_pattern_list: 1 when a pattern matches, -1 when a negated one
// does (which wins), 0 when none does. lower lowercases the patterns.
func matchList(s, list string, lower bool) int {
	got := 0
	for _, p := range strings.Split(list, ",") {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if lower {
			p = strings.ToLower(p)
		}
		if wildcard(p, s) {
			if neg {
				return -1
			}
			got = 1
		}
	}
	return got
}

// wildcard matches s against a pattern of literal characters, * (any
// run) and ? (any one character).
func wildcard(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for pattern = pattern[1:]; strings.HasPrefix(pattern, "*"); pattern = pattern[1:] {
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if wildcard(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

// match evaluates a Match line. The criteria it can evaluate are host
// (the HostName set so far, else the name asked for), originalhost, user
// (-l, else User set so far, else the local user), localuser and all.
// When those already make the line false, the others do not matter; else
// any other criterion is an error naming the line.
func (ev *evaluation) match(keyword string, s setting) (bool, error) {
	if len(s.args) == 0 {
		return false, atError(s.at, keyword, errors.New("no criteria"))
	}
	result := true
	var cannot string
	for i := 0; i < len(s.args); i++ {
		attr := strings.ToLower(s.args[i])
		neg := strings.HasPrefix(attr, "!")
		attr = strings.TrimPrefix(attr, "!")
		switch attr {
		case "all":
			if len(s.args) > 1 {
				return false, atError(s.at, keyword, errors.New("'all' cannot be combined with other criteria"))
			}
			result = !neg
			continue
		case "canonical", "final":
			return false, atError(s.at, keyword+" "+attr, errors.New("not evaluated by deploy's built-in ssh_config reader"))
		case "host", "originalhost", "user", "localuser", "exec":
		default:
			return false, atError(s.at, keyword+" "+attr, errors.New("not a criterion deploy's built-in ssh_config reader knows"))
		}
		if i+1 == len(s.args) {
			return false, atError(s.at, keyword+" "+attr, errors.New("missing argument"))
		}
		i++
		if attr == "exec" {
			cannot = attr
			continue
		}
		if ok, err := ev.criterion(attr, s.args[i], s.at); err != nil {
			return false, err
		} else if ok == neg {
			result = false
		}
	}
	if result && cannot != "" {
		return false, atError(s.at, keyword+" "+cannot, errors.New("not evaluated by deploy's built-in ssh_config reader"))
	}
	return result, nil
}

// criterion evaluates one Match criterion with its argument.
func (ev *evaluation) criterion(attr, arg, at string) (bool, error) {
	switch attr {
	case "host":
		h, err := ev.hostName()
		if err != nil {
			return false, err
		}
		return matchList(strings.ToLower(h), arg, true) == 1, nil
	case "originalhost":
		return matchList(strings.ToLower(ev.q.alias), arg, true) == 1, nil
	case "user":
		return matchList(ev.remoteUser(), arg, false) == 1, nil
	case "localuser":
		return matchList(ev.r.localUser, arg, false) == 1, nil
	}
	return false, fmt.Errorf("%s: unknown criterion %s", at, attr)
}

// hostName is the HostName set so far (%h expanded), else the alias.
func (ev *evaluation) hostName() (string, error) {
	s, ok := ev.first["hostname"]
	if !ok || len(s.args) == 0 {
		return ev.q.alias, nil
	}
	h, err := tokens{hostName: ev.q.alias}.expandPercent(s.args[0], "%h")
	if err != nil {
		return "", atError(s.at, "HostName", err)
	}
	return h, nil
}

// remoteUser is -l, else the User set so far, else the local user.
func (ev *evaluation) remoteUser() string {
	if ev.q.user != "" {
		return ev.q.user
	}
	if s, ok := ev.first["user"]; ok && len(s.args) > 0 {
		return s.args[0]
	}
	return ev.r.localUser
}
