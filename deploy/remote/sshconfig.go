package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

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
	// IdentityFiles are ssh_config IdentityFile values (OpenSSH's default
	// ~/.ssh/id_* when none is set and there is no KeyFile), expanded;
	// missing ones are skipped, as OpenSSH does.
	IdentityFiles []string
	// CertificateFiles are ssh_config CertificateFile values, expanded.
	// Without any, each key file's "<file>-cert.pub" is used if present.
	CertificateFiles []string
	// KnownHostsFiles are the user known_hosts files its key is checked
	// against; new keys are written to the first.
	KnownHostsFiles []string
	// GlobalKnownHostsFiles are read (never written) after them.
	GlobalKnownHostsFiles []string
	// IdentitiesOnly (ssh_config IdentitiesOnly yes) offers only the key
	// files, and agent keys matching them.
	IdentitiesOnly bool
	// HostKeyAlias, when set, is the name the host key is looked up and
	// recorded under in known_hosts, instead of HostName and port.
	HostKeyAlias string
	// ProxyCommand, when set, is run (with its tokens expanded) and its
	// stdin and stdout carry the connection; only honoured on the first
	// hop, as with OpenSSH's ProxyJump.
	ProxyCommand string
	// StrictHostKeyChecking is as `ssh -G` prints it: true, false, ask or
	// accept-new ("" = ask). accept-new acts as Options.AcceptNew; false
	// is refused, as deploy always checks host keys.
	StrictHostKeyChecking string
	// ConnectTimeout is ssh_config ConnectTimeout (0 = not set).
	ConnectTimeout time.Duration
	// ServerAliveInterval and ServerAliveCountMax are ssh_config's
	// keepalive settings (interval 0 = not set).
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	// RemoteCommand is ssh_config RemoteCommand ("" = none), and
	// RemoteCommandAt the file:line that set it ("" when ssh -G read
	// it): with it set, OpenSSH refuses to run a command line ("Cannot
	// execute command-line and remote command"), and so does Run (see
	// Client.session). Logging in without a command (Trust) is allowed,
	// as `ssh host` is.
	RemoteCommand, RemoteCommandAt string
	// SendEnv are ssh_config SendEnv patterns and SetEnv its NAME=value
	// entries: each session gets the local variables whose names match a
	// pattern, then SetEnv's, as OpenSSH sends them (see Client.session);
	// sshd keeps those its AcceptEnv names.
	SendEnv, SetEnv []string
	// BatchMode is ssh_config BatchMode yes: no question is asked (a
	// key's passphrase, a password, a one-time code), as with ssh.
	BatchMode bool
	// AuthMethods are the login methods tried, in order: ssh_config
	// PreferredAuthentications (OpenSSH's default order) less those
	// PubkeyAuthentication, KbdInteractiveAuthentication (or its old name
	// ChallengeResponseAuthentication) and PasswordAuthentication turn
	// off; deploy does publickey, keyboard-interactive and password.
	AuthMethods []string
	// PasswordPrompts is NumberOfPasswordPrompts: how many times a
	// password or keyboard-interactive question is asked (default 3).
	PasswordPrompts int
	// HashKnownHosts (ssh_config; Debian's and Ubuntu's system config set
	// it) writes a new host key's names hashed, as ssh does; CheckHostIP
	// (OpenSSH's default: no) also records the address.
	HashKnownHosts, CheckHostIP bool
	// ConnectionAttempts is how many times a TCP connect is tried, a
	// second apart (ssh_config ConnectionAttempts; default 1).
	ConnectionAttempts int
	// AddKeysToAgent is ssh_config AddKeysToAgent ("" = no, yes, confirm,
	// ask): a key file the server accepts is given to the agent, as ssh
	// does (see agentAdding); AddKeysLifetime bounds its stay (0 = none).
	AddKeysToAgent  string
	AddKeysLifetime time.Duration
	// ControlPath is the socket of an OpenSSH ControlMaster (ssh_config
	// ControlPath, expanded; "" = none). When a master answers there,
	// sessions go through its connection, as ssh's do (see mux.go),
	// unless ControlMaster (no, yes, ask, auto, autoask; "" = no) is yes
	// or ask, which make ssh a master rather than its client.
	ControlPath, ControlMaster string
}

// Addr is "hostname:port", what is dialled.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.HostName, strconv.Itoa(e.Port)) }

// knownHostsName is the name e's host key has in known_hosts, as an
// address: HostKeyAlias (port 22, so it is written bare), else Addr.
func (e Endpoint) knownHostsName() string {
	if e.HostKeyAlias != "" {
		return net.JoinHostPort(e.HostKeyAlias, "22")
	}
	return e.Addr()
}

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
	// ProxyJump is the host's ssh_config ProxyJump as written ("" = none).
	ProxyJump string
}

// Resolve applies ssh_config to t, as `ssh` would for `ssh -l User -p Port
// Host`: Target values win, then ssh_config (evaluated by `ssh -G` or the
// built-in reader, see Options.Resolver), then OpenSSH's defaults.
// Target.KeyFile is offered first, and adds to the identity files rather
// than replacing ssh's default ones as `ssh -i` would.
func Resolve(t Target, o Options) (*Resolved, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := validAlias(t.Host); err != nil {
		return nil, err
	}
	if t.Port < 0 || t.Port > 65535 {
		return nil, fmt.Errorf("host %s: port %d is out of range 1-65535", t.Host, t.Port)
	}
	res, err := newResolver(o)
	if err != nil {
		return nil, err
	}
	hc, err := res.resolve(hostQuery{alias: t.Host, user: t.User, port: t.Port})
	if err != nil {
		return nil, err
	}
	r := &Resolved{Host: hc.endpoint(t.Host), ForwardAgent: t.ForwardAgent || hc.ForwardAgent, ProxyJump: hc.ProxyJump}
	if t.KeyFile != "" {
		r.Host.KeyFile = expandHome(t.KeyFile, o.HomeDir)
	}
	if o.KnownHostsFiles != nil {
		r.Host.KnownHostsFiles, r.Host.GlobalKnownHostsFiles = o.KnownHostsFiles, nil
	}
	if r.Jumps, err = jumps(res, t.Host, hc.ProxyJump, o, 0); err != nil {
		return nil, err
	}
	if r.AgentSocket, err = agentSocket(hc.IdentityAgent, o.AgentSocket); err != nil {
		return nil, err
	}
	return r, nil
}

// validAlias refuses what cannot be a host name or alias (and what ssh
// would read as an option).
func validAlias(alias string) error {
	if alias == "" {
		return errors.New("no host given: set `host` in deploy.conf")
	}
	if strings.ContainsAny(alias, " \t\r\n\x00") || strings.HasPrefix(alias, "-") {
		return fmt.Errorf("host %q is not a valid host name or ssh_config alias", alias)
	}
	return nil
}

// newResolver picks ssh -G or the built-in reader, per o.Resolver.
func newResolver(o Options) (resolver, error) {
	if o.Resolver == ResolveBuiltin {
		return newBuiltinReader(o), nil
	}
	bin, err := exec.LookPath("ssh")
	if err == nil {
		return newSSHG(bin, o), nil
	}
	if o.Resolver == ResolveSSH {
		return nil, &Error{Op: "resolve hosts with", Host: "ssh -G", Err: err,
			hint: "install the OpenSSH client (apt-get install openssh-client)"}
	}
	return newBuiltinReader(o), nil
}

// agentSocket picks the agent: the option, else IdentityAgent (none,
// SSH_AUTH_SOCK, $VAR or a path, already expanded), else $SSH_AUTH_SOCK.
func agentSocket(identityAgent, option string) (string, error) {
	if option != "" {
		return option, nil
	}
	v := identityAgent
	switch {
	case v == "" || v == "SSH_AUTH_SOCK":
		return os.Getenv("SSH_AUTH_SOCK"), nil
	case v == "none":
		return "", nil
	case strings.HasPrefix(v, "$"):
		return os.Getenv(v[1:]), nil
	}
	return v, nil
}
