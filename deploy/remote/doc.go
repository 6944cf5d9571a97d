// Package remote is deploy's SSH client: it dials a host the way OpenSSH
// would and runs commands on it over one connection.
//
// Dial resolves a Target (from deploy.conf) through ~/.ssh/config (Host
// aliases, HostName, User, Port, IdentityFile, IdentitiesOnly,
// IdentityAgent, ForwardAgent, ProxyJump, UserKnownHostsFile); values set
// in the Target win, as with `ssh -o`. Each ProxyJump hop is dialled
// through the previous one with the same host key checks and auth. Other
// keywords are ignored (StrictHostKeyChecking too: keys are always
// checked), except ProxyCommand, which is refused with a hint to use
// ProxyJump rather than silently connecting directly.
//
// Host keys are checked against known_hosts. An unknown key is refused
// with a *HostKeyError showing its type and SHA256 fingerprint, unless
// Options.AcceptNew, which records it in the first known_hosts file; a
// changed key is always refused, naming the file and line of the old key.
// Trust is the step of its own that the refusal's hint names (`deploy <env>
// trust`): it records a first-seen key and returns every hop's key, and
// opens no session.
// Host key algorithms of already known keys are preferred, so the server
// shows the key we can check.
//
// Keys are offered in this order: the ssh-agent's, Target.KeyFile, the
// ssh_config IdentityFiles, ~/.ssh/id_ed25519, id_ecdsa, id_rsa. An
// encrypted key asks Options.Prompt for its passphrase once, and only when
// the server would accept it.
//
// A Client is one connection; Run and Interactive each open a session on
// it (Options.Stats counts both). With ForwardAgent, the first session asks
// for agent forwarding (sshd refuses a second request on a connection and
// gives every session the agent anyway), and later sessions wait until it
// is set up. Keepalives detect a dead peer: after
// KeepAliveMax unanswered probes the connection is closed and the running
// command fails with an error saying the connection died.
//
// Errors name the host; Hint(err) returns what the user should do, for the
// CLI's "hint:" line.
//
// x/crypto/ssh is used only in this package.
package remote
