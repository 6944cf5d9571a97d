package remote

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// Interactive runs cmd ("" = the login shell) on a pseudo-terminal wired
// to the local terminal: the local terminal goes raw for the duration and
// window size changes follow. When stdin is not a terminal it still gets a
// pty (80x24) and plain pipes. Errors are as for Run.
func (c *Client) Interactive(ctx context.Context, cmd string) error {
	return c.interactive(ctx, cmd, os.Stdin, os.Stdout, os.Stderr)
}

// interactive is Interactive with its files given (tests use pipes).
func (c *Client) interactive(ctx context.Context, cmd string, in *os.File, out, errOut io.Writer) error {
	if c.mux {
		return c.muxInteractive(ctx, cmd, in, out, errOut)
	}
	s, err := c.session()
	if err != nil {
		return err
	}
	defer s.Close()
	fd := int(in.Fd())
	isTerm := term.IsTerminal(fd)
	w, h := 80, 24
	if isTerm {
		if tw, th, err := term.GetSize(fd); err == nil {
			w, h = tw, th
		}
	}
	termName := os.Getenv("TERM")
	if termName == "" {
		termName = "xterm-256color"
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 14400, ssh.TTY_OP_OSPEED: 14400}
	if err := s.RequestPty(termName, h, w, modes); err != nil {
		return fmt.Errorf("request a terminal on %s: %w", c, err)
	}
	s.Stdin, s.Stdout, s.Stderr = in, out, errOut
	if isTerm {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("put the local terminal in raw mode: %w", err)
		}
		defer func() { _ = term.Restore(fd, old) }()
		stop := followWindowSize(fd, s)
		defer stop()
	}
	if cmd == "" {
		err = s.Shell()
	} else {
		err = s.Start(cmd)
	}
	if err != nil {
		return fmt.Errorf("start command on %s: %w", c, err)
	}
	return c.wait(ctx, s)
}

// followWindowSize forwards local SIGWINCH as window-change requests until
// the returned stop is called.
func followWindowSize(fd int, s *ssh.Session) (stop func()) {
	return onWindowChange(func() {
		if w, h, err := term.GetSize(fd); err == nil {
			_ = s.WindowChange(h, w)
		}
	})
}

// onWindowChange calls f at each local SIGWINCH until the returned stop
// is called.
func onWindowChange(f func()) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case <-quit:
				return
			case <-sig:
				f()
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(quit)
	}
}
