package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// globalKnownHosts is read (never written) after the user's files, as
// OpenSSH does.
const globalKnownHosts = "/etc/ssh/ssh_known_hosts"

// maxJumps bounds ProxyJump chains (and catches loops between aliases).
const maxJumps = 8

// Endpoint is one SSH server to log in to, after ssh_config: the target or
// a ProxyJump hop.
type Endpoint struct {
	// Alias is the name asked for: Target.Host or a ProxyJump entry.
	Alias string
	// HostName is what is dialled (ssh_config HostName, else Alias).
	HostName string
	// Port is the SSH port.
	Port int
	// User is the login user.
	User string
	// KeyFile is the explicitly configured identity (Target.KeyFile; only
	// on the final host), "" if none. It must exist.
	KeyFile string
	// IdentityFiles are ssh_config IdentityFile values, expanded; missing
	// ones are skipped, as OpenSSH does.
	IdentityFiles []string
	// KnownHostsFiles are the known_hosts files its key is checked
	// against; new keys are written to the first.
	KnownHostsFiles []string
	// IdentitiesOnly (ssh_config IdentitiesOnly yes) offers only the key
	// files, and agent keys matching them.
	IdentitiesOnly bool
}

// Addr is "hostname:port", what is dialled and looked up in known_hosts.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.HostName, strconv.Itoa(e.Port)) }

// String is "user@hostname:port", for messages.
func (e Endpoint) String() string { return e.User + "@" + e.Addr() }

// Resolved is a Target with ssh_config applied: the hops to go through,
// in order, and the host itself.
type Resolved struct {
	// Jumps are the ProxyJump hops, first dialled first (nil = direct).
	Jumps []Endpoint
	// Host is the final host.
	Host Endpoint
	// ForwardAgent says whether sessions forward the local agent.
	ForwardAgent bool
	// AgentSocket is the ssh-agent to use: Options.AgentSocket, else
	// ssh_config IdentityAgent, else $SSH_AUTH_SOCK ("" = no agent).
	AgentSocket string
}

// sshConfig is a parsed ssh_config file; cfg is nil when the file does not
// exist.
type sshConfig struct {
	file string
	cfg  *ssh_config.Config
	home string
}

// loadSSHConfig parses file; a missing file is an empty config.
func loadSSHConfig(file, home string) (*sshConfig, error) {
	c := &sshConfig{file: file, home: home}
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	defer f.Close()
	c.cfg, err = ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("parse ssh config %s: %w", file, err)
	}
	return c, nil
}

func (c *sshConfig) get(alias, key string) string {
	if c.cfg == nil {
		return ""
	}
	v, _ := c.cfg.Get(alias, key)
	return strings.TrimSpace(v)
}

func (c *sshConfig) getAll(alias, key string) []string {
	if c.cfg == nil {
		return nil
	}
	v, _ := c.cfg.GetAll(alias, key)
	return v
}

// Resolve applies ssh_config to t: Target values win, then the file's
// values for the matching Host blocks, then the defaults (port 22, the
// local user, ~/.ssh/known_hosts).
func Resolve(t Target, o Options) (*Resolved, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := loadSSHConfig(o.SSHConfigFile, o.HomeDir)
	if err != nil {
		return nil, err
	}
	host, err := c.endpoint(t.Host, t.User, t.Port, o.KnownHostsFiles)
	if err != nil {
		return nil, err
	}
	if t.KeyFile != "" {
		host.KeyFile = expandHome(t.KeyFile, o.HomeDir)
	}
	r := &Resolved{Host: host, ForwardAgent: t.ForwardAgent}
	if !t.ForwardAgent {
		r.ForwardAgent = strings.EqualFold(c.get(t.Host, "ForwardAgent"), "yes")
	}
	r.Jumps, err = c.jumps(t.Host, o.KnownHostsFiles, 0)
	if err != nil {
		return nil, err
	}
	r.AgentSocket, err = c.agentSocket(host, o.AgentSocket)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// agentSocket picks the agent: the option, else IdentityAgent (none,
// SSH_AUTH_SOCK, $VAR or a path), else $SSH_AUTH_SOCK.
func (c *sshConfig) agentSocket(e Endpoint, option string) (string, error) {
	if option != "" {
		return option, nil
	}
	v := c.get(e.Alias, "IdentityAgent")
	switch {
	case v == "" || v == "SSH_AUTH_SOCK":
		return os.Getenv("SSH_AUTH_SOCK"), nil
	case v == "none":
		return "", nil
	case strings.HasPrefix(v, "$"):
		return os.Getenv(v[1:]), nil
	}
	x, err := c.expand(v, e)
	if err != nil {
		return "", fmt.Errorf("ssh config %s: Host %s: IdentityAgent: %w", c.file, e.Alias, err)
	}
	return x, nil
}

// endpoint resolves one alias; user and port, when set, win over the file.
func (c *sshConfig) endpoint(alias, user string, port int, knownHosts []string) (Endpoint, error) {
	if alias == "" {
		return Endpoint{}, errors.New("no host given: set `host` in deploy.conf")
	}
	if strings.ContainsAny(alias, " \t\r\n\x00") || strings.HasPrefix(alias, "-") {
		return Endpoint{}, fmt.Errorf("host %q is not a valid host name or ssh_config alias", alias)
	}
	if pc := c.get(alias, "ProxyCommand"); pc != "" && pc != "none" {
		return Endpoint{}, fmt.Errorf("ssh config %s: Host %s uses ProxyCommand, which deploy does not support; use ProxyJump instead", c.file, alias)
	}
	e := Endpoint{Alias: alias, HostName: alias, Port: port, User: user}
	if hn := c.get(alias, "HostName"); hn != "" {
		e.HostName = strings.ReplaceAll(strings.ReplaceAll(hn, "%h", alias), "%%", "%")
	}
	if e.Port == 0 {
		p, err := c.port(alias)
		if err != nil {
			return Endpoint{}, err
		}
		e.Port = p
	}
	if e.Port < 1 || e.Port > 65535 {
		return Endpoint{}, fmt.Errorf("host %s: port %d is out of range 1-65535", alias, e.Port)
	}
	if e.User == "" {
		e.User = c.get(alias, "User")
	}
	if e.User == "" {
		e.User = localUser()
	}
	for _, id := range c.getAll(alias, "IdentityFile") {
		x, err := c.expand(id, e)
		if err != nil {
			return Endpoint{}, fmt.Errorf("ssh config %s: Host %s: IdentityFile: %w", c.file, alias, err)
		}
		e.IdentityFiles = append(e.IdentityFiles, x)
	}
	e.IdentitiesOnly = strings.EqualFold(c.get(alias, "IdentitiesOnly"), "yes")
	kh, err := c.knownHosts(e, knownHosts)
	if err != nil {
		return Endpoint{}, err
	}
	e.KnownHostsFiles = kh
	return e, nil
}

func (c *sshConfig) port(alias string) (int, error) {
	v := c.get(alias, "Port")
	if v == "" {
		return 22, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("ssh config %s: Host %s: Port %q is not a number", c.file, alias, v)
	}
	return p, nil
}

// knownHosts picks the known_hosts files for e: the override, else
// UserKnownHostsFile, else ~/.ssh/known_hosts; the global file is added
// (read-only) when it exists and no override was given.
func (c *sshConfig) knownHosts(e Endpoint, override []string) ([]string, error) {
	if override != nil {
		return override, nil
	}
	var files []string
	if v := c.get(e.Alias, "UserKnownHostsFile"); v != "" {
		for _, f := range strings.Fields(v) {
			if f == "none" {
				continue
			}
			x, err := c.expand(f, e)
			if err != nil {
				return nil, fmt.Errorf("ssh config %s: Host %s: UserKnownHostsFile: %w", c.file, e.Alias, err)
			}
			files = append(files, x)
		}
	} else {
		files = []string{filepath.Join(c.home, ".ssh", "known_hosts")}
	}
	if _, err := os.Stat(globalKnownHosts); err == nil {
		files = append(files, globalKnownHosts)
	}
	return files, nil
}

// expand replaces a leading ~ and the %d %h %n %p %r %u %% tokens, as
// ssh_config does for IdentityFile and UserKnownHostsFile.
func (c *sshConfig) expand(s string, e Endpoint) (string, error) {
	s = expandHome(s, c.home)
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
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(c.home)
		case 'h':
			b.WriteString(e.HostName)
		case 'n':
			b.WriteString(e.Alias)
		case 'p':
			b.WriteString(strconv.Itoa(e.Port))
		case 'r':
			b.WriteString(e.User)
		case 'u':
			b.WriteString(localUser())
		default:
			return "", fmt.Errorf("%q uses %%%c, which deploy does not expand (supported: %%d %%h %%n %%p %%r %%u %%%%)", s, s[i])
		}
	}
	return b.String(), nil
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
