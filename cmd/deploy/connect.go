package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/report"
	"github.com/deploytool/deploy/internal/hint"
	"golang.org/x/term"

	"github.com/deploytool/deploy/deploy/remote"
)

// dialer opens the one connection per host that a command uses. It shares
// unlocked keys between hosts, so a passphrase is asked once per command.
type dialer struct {
	g      *globals
	env    *config.Env
	keys   *remote.KeyCache
	stats  *remote.Stats
	stderr io.Writer

	mu    sync.Mutex
	noted map[string]bool // notes printed: each once per command, not per host
}

func newDialer(g *globals, env *config.Env, stderr io.Writer) *dialer {
	return &dialer{g: g, env: env, keys: &remote.KeyCache{}, stats: &remote.Stats{}, stderr: stderr,
		noted: map[string]bool{}}
}

// dial connects to h. With --transport local it runs the remote script
// with this machine's bash instead (the demo's fallback when no sshd).
func (d *dialer) dial(ctx context.Context, h config.Host) (deploy.Conn, error) {
	if d.g.Transport == "local" {
		return &deploy.Local{}, nil
	}
	o, err := d.options()
	if err != nil {
		return nil, err
	}
	c, err := remote.Dial(ctx, d.target(h), o)
	if err != nil {
		return nil, d.withEnv(err)
	}
	return c, nil
}

// trust records h's host key (and its jump hosts') if it is new, and
// returns them; see remote.Trust.
func (d *dialer) trust(ctx context.Context, h config.Host) ([]remote.HostKey, error) {
	o, err := d.options()
	if err != nil {
		return nil, err
	}
	keys, err := remote.Trust(ctx, d.target(h), o)
	return keys, d.withEnv(err)
}

func (d *dialer) target(h config.Host) remote.Target {
	return remote.Target{
		Host:         h.Name,
		User:         firstNonEmpty(h.User, d.env.User),
		Port:         firstNonZero(h.Port, d.env.Port),
		KeyFile:      d.env.Key,
		ForwardAgent: d.env.ForwardAgent,
	}
}

// options are the SSH layer's options. ~/.ssh is the login user's, from
// the passwd entry, as OpenSSH takes it (not $HOME: they differ under
// sudo -E and the like): HomeDir is left empty. $DEPLOY_SSH_HOME (tests,
// sandboxes; see config.SSHHomeEnv) names a directory standing in for that
// home, as `ssh -F DIR/.ssh/config` would: its .ssh/config (unless -F or
// ssh-config names another file), known_hosts (read, and written by trust
// and --accept-new) and default keys, and /etc/ssh/ssh_config is not read.
func (d *dialer) options() (remote.Options, error) {
	home, err := config.SSHHomeOverride()
	if err != nil {
		return remote.Options{}, err
	}
	return remote.Options{
		HomeDir:        home,
		SSHConfigFile:  d.sshConfigFile(),
		AcceptNew:      d.g.AcceptNew,
		Prompt:         promptTTY,
		ConnectTimeout: d.env.ConnectTimeout,
		Keys:           d.keys,
		Stats:          d.stats,
		Logf:           d.note,
	}, nil
}

// sshConfigFile is the ssh_config file to read instead of ssh's own, as
// `ssh -F`: the -F flag (relative to -C's directory, like -c), else the
// env's ssh-config key ("" = neither).
func (d *dialer) sshConfigFile() string {
	f := d.g.SSHConfig
	switch {
	case f == "":
		return d.env.SSHConfig
	case !filepath.IsAbs(f) && d.g.Chdir != "":
		return filepath.Join(d.g.Chdir, f)
	}
	return f
}

// note prints a notice from the SSH layer as "note: …", once per command:
// the same warning about the agent from every host of a fleet is noise.
func (d *dialer) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noted[msg] {
		return
	}
	d.noted[msg] = true
	fmt.Fprintf(d.stderr, "note: %s\n", msg)
}

// withEnv fills the env's name into the SSH layer's hints, which say
// `deploy <env> trust`, so that the hint is a command to run as printed.
func (d *dialer) withEnv(err error) error {
	if err == nil || !strings.Contains(hint.Of(err), "<env>") {
		return err
	}
	return &envHintError{err: err, env: d.env.Name}
}

// envHintError is an SSH error whose hint names this env.
type envHintError struct {
	err error
	env string
}

func (e *envHintError) Error() string { return e.err.Error() }
func (e *envHintError) Unwrap() error { return e.err }
func (e *envHintError) Hint() string {
	return strings.ReplaceAll(hint.Of(e.err), "<env>", e.env)
}

// promptMu keeps the questions of a fleet's parallel logins (a
// passphrase, a password, a one-time code per host) one at a time on the
// terminal.
var promptMu sync.Mutex

// liveView is the live lines a fleet deploy draws on the terminal (nil:
// none): promptTTY holds them still while it asks.
var liveView atomic.Pointer[report.Output]

// promptTTY asks for a secret on the terminal, without echo.
func promptTTY(prompt string) (string, error) {
	promptMu.Lock()
	defer promptMu.Unlock()
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("no terminal to ask %q on", strings.TrimSpace(prompt))
	}
	defer tty.Close()
	if v := liveView.Load(); v != nil {
		defer v.Hold()()
	}
	fmt.Fprint(tty, prompt)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	return string(b), err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstNonZero(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}
