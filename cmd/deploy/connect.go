package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/remote"
)

// dialer opens the one connection per host that a command uses. It shares
// unlocked keys between hosts, so a passphrase is asked once per command.
type dialer struct {
	g      *globals
	env    *deploy.Env
	keys   *remote.KeyCache
	stats  *remote.Stats
	stderr io.Writer
}

func newDialer(g *globals, env *deploy.Env, stderr io.Writer) *dialer {
	return &dialer{g: g, env: env, keys: &remote.KeyCache{}, stats: &remote.Stats{}, stderr: stderr}
}

// dial connects to h. With --transport local it runs the remote script
// with this machine's bash instead (the demo's fallback when no sshd).
func (d *dialer) dial(ctx context.Context, h deploy.Host) (deploy.Conn, error) {
	if d.g.Transport == "local" {
		return &deploy.Local{}, nil
	}
	t := remote.Target{
		Host:         h.Name,
		User:         firstNonEmpty(h.User, d.env.User),
		Port:         firstNonZero(h.Port, d.env.Port),
		KeyFile:      d.env.Key,
		ForwardAgent: d.env.ForwardAgent,
	}
	o := remote.Options{
		AcceptNew:      d.g.AcceptNew,
		Prompt:         promptTTY,
		ConnectTimeout: d.env.ConnectTimeout,
		Keys:           d.keys,
		Stats:          d.stats,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(d.stderr, "note: "+format+"\n", args...)
		},
	}
	c, err := remote.Dial(ctx, t, o)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// promptTTY asks for a secret on the terminal, without echo.
func promptTTY(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("no terminal to ask %q on: add the key to ssh-agent", prompt)
	}
	defer tty.Close()
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
