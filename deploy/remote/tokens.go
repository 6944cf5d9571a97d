package remote

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// tokens are the values ssh_config's %-tokens stand for, for one host.
type tokens struct {
	home      string // %d and ~
	hostName  string // %h
	alias     string // %n: the name asked for
	port      int    // %p
	user      string // %r
	localUser string // %u
	keyAlias  string // %k: HostKeyAlias, else the alias
}

// proxyTokens are what ProxyCommand may use, as in OpenSSH.
const proxyTokens = "%hnpr"

// pathTokens are what IdentityFile, CertificateFile, UserKnownHostsFile
// and IdentityAgent may use.
const pathTokens = "%CdhiklLnpru"

// expandPercent replaces the %-tokens of s listed in allowed (e.g. "%hp");
// any other token is an error naming it, as OpenSSH refuses them.
func (t tokens) expandPercent(s, allowed string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends with a lone %%", s)
		}
		i++
		c := s[i]
		if c != '%' && !strings.ContainsRune(allowed, rune(c)) {
			return "", fmt.Errorf("%q uses %%%c, which is not a token here (allowed: %s)", s, c, spaced(allowed))
		}
		b.WriteString(t.value(c))
	}
	return b.String(), nil
}

func spaced(allowed string) string {
	var parts []string
	for _, c := range allowed {
		parts = append(parts, "%"+string(c))
	}
	return strings.Join(parts, " ")
}

// value is the text one token stands for.
func (t tokens) value(c byte) string {
	switch c {
	case '%':
		return "%"
	case 'C':
		sum := sha1.Sum([]byte(localHostName() + t.hostName + strconv.Itoa(t.port) + t.user))
		return hex.EncodeToString(sum[:])
	case 'd':
		return t.home
	case 'h':
		return t.hostName
	case 'i':
		return strconv.Itoa(os.Getuid())
	case 'k':
		if t.keyAlias != "" {
			return t.keyAlias
		}
		return t.alias
	case 'L':
		short, _, _ := strings.Cut(localHostName(), ".")
		return short
	case 'l':
		return localHostName()
	case 'n':
		return t.alias
	case 'p':
		return strconv.Itoa(t.port)
	case 'r':
		return t.user
	case 'u':
		return t.localUser
	}
	return ""
}

func localHostName() string {
	h, _ := os.Hostname()
	return h
}

// expandPath expands a path as OpenSSH does for IdentityFile and the
// like: a leading ~ or ~user, then ${VAR}, then the %-tokens.
func (t tokens) expandPath(s string) (string, error) {
	s, err := expandTilde(s, t.home)
	if err != nil {
		return "", err
	}
	if s, err = expandEnv(s); err != nil {
		return "", err
	}
	return t.expandPercent(s, pathTokens)
}

// expandTilde turns a leading ~ or ~/ into home, and ~user/ into that
// user's home directory.
func expandTilde(p, home string) (string, error) {
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	dir := home
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("%q: no user %s for ~%s", p, name, name)
		}
		dir = u.HomeDir
	}
	if rest == "" {
		return dir, nil
	}
	return filepath.Join(dir, rest), nil
}

// expandEnv replaces ${VAR}; an unset variable is an error, as in OpenSSH.
func expandEnv(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("%q: unterminated ${", s)
		}
		name := s[i+2 : i+j]
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("%q: environment variable %s is not set", s, name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// expandHome turns a leading ~ or ~/ into home.
func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}
