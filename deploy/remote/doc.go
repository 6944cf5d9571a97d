// Package remote is deploy's SSH client: it dials a host the way OpenSSH
// would and runs commands on it over one connection.
//
// Dial resolves a Target the way `ssh` would and connects there. Where
// the OpenSSH client is installed, each host (and each ProxyJump hop) is
// resolved by running `ssh -G [-F file] [-l user] [-p port] -- host` and
// reading its `keyword value` lines, so every keyword, Match (exec too:
// ssh runs it), Include, token and default is OpenSSH's own. Without ssh,
// a built-in reader evaluates Host lines (tabs, !negation), Match host (on
// the HostName set so far, comma lists), originalhost, user, localuser
// and all, Include with globs, tokens and quotes, and refuses with file,
// line and keyword whatever it cannot evaluate (Match exec, canonical,
// final, CanonicalizeHostname): it never guesses. Options.Resolver forces
// either; Options.SSHConfigFile is `ssh -F`. Values set in the Target win,
// as with `ssh -l`/`-p`. Describe prints the result without connecting.
//
// What is honoured: HostName, Port, User, IdentityFile, CertificateFile
// (and each key's automatic "<key>-cert.pub"), IdentitiesOnly,
// IdentityAgent, ForwardAgent, ProxyJump chains, ProxyCommand (run as
// OpenSSH does, `$SHELL -c "exec <command>"`, its stdin and stdout being
// the connection; whichever of ProxyJump and ProxyCommand comes first
// wins), UserKnownHostsFile, GlobalKnownHostsFile, HostKeyAlias (known_hosts
// lookups and writes use it), StrictHostKeyChecking (accept-new acts as
// Options.AcceptNew; no is refused, keys are always checked),
// ConnectTimeout and ServerAliveInterval/CountMax (unless Options set
// them), ConnectionAttempts (a refused or timed-out TCP connect is tried
// again a second later, as ssh does), RemoteCommand (Run and Interactive refuse it, as ssh refuses a
// command line beside it), SendEnv and SetEnv (each session gets the
// local variables SendEnv names, then SetEnv's, sent as OpenSSH sends
// them: without waiting for replies, so sshd's AcceptEnv decides),
// ControlPath and ControlMaster (sessions go through a running ssh
// master's socket, as ssh's do; see mux.go). ~ is the login user's home
// from the passwd entry, as in OpenSSH.
//
// Host keys are checked against known_hosts. An unknown key is refused
// with a *HostKeyError showing its type and SHA256 fingerprint, unless
// Options.AcceptNew, which records it in the first known_hosts file (as
// ssh writes it: hashed under HashKnownHosts, the address too under
// CheckHostIP unless it is a loopback one); a
// changed key is always refused, naming the file and line of the old key.
// Trust is the step of its own that the refusal's hint names (`deploy <env>
// trust`): it records a first-seen key and returns every hop's key, and
// opens no session.
// Host key algorithms of already known keys are preferred, so the server
// shows the key we can check.
//
// Keys are offered in OpenSSH's order: CertificateFile certificates, the
// agent's keys that match a key file (Target.KeyFile or an IdentityFile),
// the agent's other keys (not with IdentitiesOnly), then the key files,
// each followed by its certificate. IdentityFile defaults to OpenSSH's
// ~/.ssh/id_* list; Target.KeyFile adds to it. An encrypted key asks
// Options.Prompt for its passphrase once, and only when the server would
// accept it. After keys come keyboard-interactive, then password, as in
// OpenSSH's default PreferredAuthentications, when the server lists them:
// a second factor after the key (AuthenticationMethods
// publickey,keyboard-interactive), or a password where no key is
// accepted. Each question goes to Options.Prompt with OpenSSH's prompt
// text, up to NumberOfPasswordPrompts (3) times; with no one to answer the
// login fails with a *PromptError saying whether a key was accepted.
// BatchMode yes asks nothing (and leaves out encrypted keys not unlocked
// yet); PreferredAuthentications, PubkeyAuthentication,
// KbdInteractiveAuthentication (ChallengeResponseAuthentication) and
// PasswordAuthentication choose the methods and their order, as in ssh.
// With AddKeysToAgent, a key file the server accepted is given to the
// agent (once per KeyCache; confirm, ask and a lifetime as in ssh).
//
// A Client is one connection; Run and Interactive each open a session on
// it (Options.Stats counts both). With ForwardAgent, the first session asks
// for agent forwarding (sshd refuses a second request on a connection and
// gives every session the agent anyway), and later sessions wait until it
// is set up. Keepalives (keepalive@openssh.com) detect a dead peer: after
// KeepAliveMax (or ServerAliveCountMax) unanswered probes the connection
// is closed and the running command fails with an error saying the
// connection died.
//
// Errors name the host; internal/hint.Of(err) returns what the user should do, for the
// CLI's "hint:" line.
//
// x/crypto/ssh is used only in this package.
package remote
