package remote

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// hostConfig is what ssh_config says about one host, in the terms `ssh -G`
// prints: both resolvers (ssh -G and the built-in reader) produce it.
// Paths are expanded (~, %-tokens, ${VAR}); ProxyCommand's tokens too.
type hostConfig struct {
	HostName string
	Port     int
	User     string
	// IdentityFiles are in the order ssh tries them; the defaults
	// (~/.ssh/id_*) when the config names none.
	IdentityFiles    []string
	CertificateFiles []string
	// UserKnownHostsFiles is nil for `UserKnownHostsFile none`.
	UserKnownHostsFiles   []string
	GlobalKnownHostsFiles []string
	HostKeyAlias          string
	// ProxyJump is the raw hop list, "" for none.
	ProxyJump string
	// ProxyCommand is the command with its tokens expanded, "" for none.
	ProxyCommand string
	// StrictHostKeyChecking is as ssh -G prints it: true, false, ask or
	// accept-new.
	StrictHostKeyChecking string
	// ConnectTimeout is 0 when not set.
	ConnectTimeout      time.Duration
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	IdentitiesOnly      bool
	// IdentityAgent is "" when not set, else none, SSH_AUTH_SOCK, $VAR or
	// a path.
	IdentityAgent string
	ForwardAgent  bool
	// RemoteCommand is ssh_config RemoteCommand ("" = not set, or none),
	// and RemoteCommandAt its file:line ("" from ssh -G).
	RemoteCommand, RemoteCommandAt string
	// SendEnv are ssh_config SendEnv patterns (after "-pattern" removals),
	// SetEnv its NAME=value entries (the first SetEnv line that applies).
	SendEnv, SetEnv []string
	// BatchMode, AuthMethods, PasswordPrompts, HashKnownHosts and
	// CheckHostIP: see Endpoint.
	BatchMode       bool
	AuthMethods     []string
	PasswordPrompts int
	HashKnownHosts  bool
	CheckHostIP     bool
	// ConnectionAttempts is ssh_config ConnectionAttempts (default 1).
	ConnectionAttempts int
	// AddKeysToAgent ("" = no, yes, confirm, ask) and AddKeysLifetime:
	// see Endpoint.
	AddKeysToAgent  string
	AddKeysLifetime time.Duration
	// ControlPath is ssh_config ControlPath, expanded ("" = none), and
	// ControlMaster its ControlMaster (no, yes, ask, auto, autoask).
	ControlPath, ControlMaster string
}

// addKeysValue reads an AddKeysToAgent value as ssh_config has it (yes,
// no, ask, confirm, each possibly followed by a lifetime, or a lifetime
// alone) or as ssh -G prints it (true, false, ask, confirm, and seconds).
func addKeysValue(args []string) (mode string, lifetime time.Duration, err error) {
	if len(args) == 0 {
		return "", 0, nil
	}
	switch v := strings.ToLower(args[0]); v {
	case "yes", "true":
		mode = "yes"
	case "no", "false":
		return "", 0, nil
	case "ask", "confirm":
		mode = v
	default:
		if lifetime, err = convTime(args[0]); err != nil {
			return "", 0, fmt.Errorf("AddKeysToAgent %q is not yes, no, ask, confirm or a time", args[0])
		}
		return "yes", lifetime, nil
	}
	if len(args) > 1 {
		if lifetime, err = convTime(args[1]); err != nil {
			return "", 0, fmt.Errorf("AddKeysToAgent lifetime %q is not a time", args[1])
		}
	}
	return mode, lifetime, nil
}

// defaultPreferredAuth is OpenSSH's PreferredAuthentications default.
const defaultPreferredAuth = "gssapi-with-mic,hostbased,publickey,keyboard-interactive,password"

// defaultPasswordPrompts is OpenSSH's NumberOfPasswordPrompts default.
const defaultPasswordPrompts = 3

// authMethods is the login methods deploy tries, in order: preferred
// (ssh_config PreferredAuthentications, "" = OpenSSH's default) less the
// ones PubkeyAuthentication, KbdInteractiveAuthentication and
// PasswordAuthentication turn off, and less those deploy does not do
// (gssapi-with-mic, hostbased).
func authMethods(preferred string, pubkey, kbd, password bool) []string {
	if preferred == "" {
		preferred = defaultPreferredAuth
	}
	on := map[string]bool{"publickey": pubkey, "keyboard-interactive": kbd, "password": password}
	var out []string
	for _, m := range strings.Split(preferred, ",") {
		if on[m] && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// authOff says whether an ssh_config yes/no value (PubkeyAuthentication's
// also unbound and host-bound) turns a method off.
func authOff(v string) bool {
	v = strings.ToLower(v)
	return v == "no" || v == "false"
}

// OpenSSH's defaults, as `ssh -G` (OpenSSH 9.2) prints them.
const (
	defaultStrict       = "ask"
	defaultAliveCountMx = 3
)

// defaultIdentityFiles are the key files OpenSSH tries when the config
// names none, in its order (unexpanded).
func defaultIdentityFiles() []string {
	return []string{"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519",
		"~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa"}
}

// defaultUserKnownHosts and defaultGlobalKnownHosts are OpenSSH's
// known_hosts files (unexpanded).
func defaultUserKnownHosts() []string { return []string{"~/.ssh/known_hosts", "~/.ssh/known_hosts2"} }

func defaultGlobalKnownHosts() []string {
	return []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
}

// endpoint turns the host's config into an Endpoint named alias.
func (h hostConfig) endpoint(alias string) Endpoint {
	return Endpoint{
		Alias:                 alias,
		HostName:              h.HostName,
		Port:                  h.Port,
		User:                  h.User,
		IdentityFiles:         h.IdentityFiles,
		CertificateFiles:      h.CertificateFiles,
		KnownHostsFiles:       h.UserKnownHostsFiles,
		GlobalKnownHostsFiles: h.GlobalKnownHostsFiles,
		IdentitiesOnly:        h.IdentitiesOnly,
		HostKeyAlias:          h.HostKeyAlias,
		ProxyCommand:          h.ProxyCommand,
		StrictHostKeyChecking: h.StrictHostKeyChecking,
		ConnectTimeout:        h.ConnectTimeout,
		ServerAliveInterval:   h.ServerAliveInterval,
		ServerAliveCountMax:   h.ServerAliveCountMax,
		RemoteCommand:         h.RemoteCommand,
		RemoteCommandAt:       h.RemoteCommandAt,
		SendEnv:               h.SendEnv,
		SetEnv:                h.SetEnv,
		BatchMode:             h.BatchMode,
		AuthMethods:           h.AuthMethods,
		PasswordPrompts:       h.PasswordPrompts,
		HashKnownHosts:        h.HashKnownHosts,
		CheckHostIP:           h.CheckHostIP,
		ConnectionAttempts:    h.ConnectionAttempts,
		AddKeysToAgent:        h.AddKeysToAgent,
		AddKeysLifetime:       h.AddKeysLifetime,
		ControlPath:           h.ControlPath,
		ControlMaster:         h.ControlMaster,
	}
}
