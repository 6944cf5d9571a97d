package remote

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultConnectTimeout    = 10 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultStopGrace         = 5 * time.Second
	// KeepAliveMax is how many keepalives in a row may go unanswered
	// before the connection is declared dead (OpenSSH's ServerAliveCountMax).
	KeepAliveMax = 3
)

// Target is the host a deploy.conf names. Zero values mean "not set by
// deploy.conf": ssh_config, then the defaults, decide. Set values win over
// ssh_config, as `ssh -o` does.
type Target struct {
	// Host is a host name, an address or an ssh_config Host alias. Required.
	Host string
	// User is the login user ("" = ssh_config User, then the local user).
	User string
	// Port is the SSH port (0 = ssh_config Port, then 22).
	Port int
	// KeyFile is an identity file offered before ssh_config's IdentityFiles
	// (through the agent when the agent holds it) ("" = none; IdentityFile,
	// or OpenSSH's default ~/.ssh/id_*, are tried anyway). A KeyFile that
	// does not exist is an error.
	KeyFile string
	// ForwardAgent forwards the local ssh-agent to every session (false =
	// ssh_config ForwardAgent decides, default no). It is requested once per
	// connection, as OpenSSH allows; with no agent reachable, Options.Logf
	// gets a warning and nothing is forwarded, as with `ssh -A`.
	ForwardAgent bool
}

// Options says where the client finds its SSH setup and how it behaves.
// The zero value uses the real user's ~/.ssh and $SSH_AUTH_SOCK, refuses
// unknown host keys and cannot ask for passphrases.
type Options struct {
	// HomeDir is the home directory ssh_config's ~ and %d stand for, and
	// where .ssh/config, known_hosts and the default keys are ("" = the
	// login user's home from the passwd entry, as OpenSSH uses, not
	// $HOME). Another directory (tests, a sandbox) also stands in for
	// `ssh -F HomeDir/.ssh/config`: /etc/ssh/ssh_config is not read, and
	// what `ssh -G` expanded with the real home is moved under HomeDir.
	HomeDir string
	// SSHConfigFile is an ssh_config file read instead of ~/.ssh/config
	// and /etc/ssh/ssh_config, as `ssh -F SSHConfigFile` does; it must
	// exist ("" = ssh's own files).
	SSHConfigFile string
	// Resolver says how ssh_config is evaluated (zero value ResolveAuto:
	// `ssh -G` when the OpenSSH client is installed, else the built-in
	// reader).
	Resolver Resolver
	// KnownHostsFiles replaces the known_hosts files to check (nil =
	// ssh_config UserKnownHostsFile, else HomeDir/.ssh/known_hosts, plus
	// /etc/ssh/ssh_known_hosts read-only). New keys go to the first.
	KnownHostsFiles []string
	// AcceptNew trusts a host key never seen before and appends it to the
	// first known_hosts file (false = refuse it). A changed key is refused
	// regardless.
	AcceptNew bool
	// Prompt asks the user for a secret: an encrypted key's passphrase, a
	// server's keyboard-interactive question or password (nil = an
	// encrypted key the server wants fails with a hint to load it into
	// ssh-agent, and a server's question with a *PromptError). Concurrent
	// Dials may call it concurrently unless they share Keys, which
	// serialises the questions about one key.
	Prompt func(prompt string) (string, error)
	// ConnectTimeout bounds the TCP connect (or ProxyCommand start) plus
	// SSH handshake of each hop (0 = the hop's ssh_config ConnectTimeout,
	// else DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// KeepAliveInterval is how often an idle-or-not connection is probed;
	// after KeepAliveMax unanswered probes it is closed and Run fails
	// (0 = ssh_config ServerAliveInterval and ServerAliveCountMax when
	// set, else DefaultKeepAliveInterval; negative = no keepalives).
	KeepAliveInterval time.Duration
	// StopGrace is how long Run waits, after its context is cancelled and
	// SIGTERM was sent, for the remote command to exit before the session is
	// closed (0 = DefaultStopGrace).
	StopGrace time.Duration
	// AgentSocket is the ssh-agent socket ("" = ssh_config IdentityAgent,
	// then $SSH_AUTH_SOCK; none set =
	// no agent).
	AgentSocket string
	// Keys, when not nil, shares loaded and unlocked key files between
	// Dials, so a passphrase is asked once per deploy (nil = once per Dial).
	Keys *KeyCache
	// Stats, when not nil, counts connections and sessions opened.
	Stats *Stats
	// Logf receives notices a user should see: a host key added by
	// AcceptNew, an unreachable agent, a key file skipped (nil = silent).
	Logf func(format string, args ...any)

	// seen, set by Trust, collects the host key each hop accepted.
	seen *hostKeyLog
	// ownHome: HomeDir was given and is not the login user's home.
	ownHome bool
}

// Resolver is how ssh_config is evaluated.
type Resolver int

// The resolvers.
const (
	// ResolveAuto runs `ssh -G` when the ssh binary is on $PATH, else
	// uses the built-in reader.
	ResolveAuto Resolver = iota
	// ResolveSSH always runs `ssh -G`; without ssh it is an error.
	ResolveSSH
	// ResolveBuiltin never runs ssh: the built-in reader evaluates what it
	// can and refuses, naming file, line and keyword, what it cannot.
	ResolveBuiltin
)

// String names the resolver.
func (r Resolver) String() string {
	switch r {
	case ResolveAuto:
		return "auto"
	case ResolveSSH:
		return "ssh -G"
	case ResolveBuiltin:
		return "built-in"
	}
	return fmt.Sprintf("Resolver(%d)", int(r))
}

// Stats counts what a client opened, for benchmarks and for checking "one
// connection per host per deploy". It is safe for concurrent use; share one
// between Dials to count a whole deploy.
type Stats struct {
	// Connections counts SSH connections established (each ProxyJump hop
	// counts as one).
	Connections atomic.Int64
	// Sessions counts sessions opened (one per Run or Interactive).
	Sessions atomic.Int64
}

// withDefaults fills the zero values that need the environment.
func (o Options) withDefaults() (Options, error) {
	if o.HomeDir != "" {
		o.HomeDir = filepath.Clean(o.HomeDir)
		o.ownHome = o.HomeDir != loginHome()
	} else if o.HomeDir = loginHome(); o.HomeDir == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("find home directory for ~/.ssh: %w", err)
		}
		o.HomeDir = h
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	return o, nil
}

// loginHome is the login user's home from the passwd entry, as OpenSSH
// uses it ("" if unknown).
func loginHome() string {
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return ""
}

// configName names the ssh_config in messages.
func (o Options) configName() string {
	if o.SSHConfigFile != "" {
		return o.SSHConfigFile
	}
	return "~/.ssh/config"
}

// connectTimeout is the timeout for hop e: the option, ssh_config's, or
// the default.
func (o Options) connectTimeout(e Endpoint) time.Duration {
	switch {
	case o.ConnectTimeout > 0:
		return o.ConnectTimeout
	case e.ConnectTimeout > 0:
		return e.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// keepAlive is the keepalive interval and count for host e (interval 0 =
// none).
func (o Options) keepAlive(e Endpoint) (time.Duration, int) {
	switch {
	case o.KeepAliveInterval < 0:
		return 0, 0
	case o.KeepAliveInterval > 0:
		return o.KeepAliveInterval, KeepAliveMax
	case e.ServerAliveInterval > 0 && e.ServerAliveCountMax > 0:
		return e.ServerAliveInterval, e.ServerAliveCountMax
	}
	return DefaultKeepAliveInterval, KeepAliveMax
}

// localUser is the name of the user running deploy, the default login.
func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
