package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Local is a Conn to this machine: it runs each command line with the
// local `bash -c`, as sshd runs it through the login shell. Tests use it
// to run the real remote script against a directory, and the demo uses it
// when there is no sshd. The zero value is ready to use.
type Local struct {
	// Env is added to the environment of every command (nil = none).
	Env []string
	// Dir is the working directory of commands ("" = $HOME, which the
	// remote script expands ~ from, as an ssh login starts there, falling
	// back to the current one).
	Dir string
}

// localExitError is a command's non-zero exit, with the ExitStatus the
// Conn contract asks for.
type localExitError struct{ err *exec.ExitError }

func (e localExitError) Error() string   { return "remote command: " + e.err.Error() }
func (e localExitError) ExitStatus() int { return e.err.ExitCode() }
func (e localExitError) Unwrap() error   { return e.err }

// Run runs cmd with `bash -c` in its own process group. When ctx ends the
// group gets SIGTERM, then SIGKILL 3 s later, like a dropped session. Run
// returns when the command exits and its output ends, without waiting for
// stdin to reach EOF (the control channel may stay open), as a Conn must.
func (l *Local) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := l.command(ctx, cmd)
	c.Stdout, c.Stderr = stdout, stderr
	if stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("stdin pipe: %w", err)
		}
		c.Stdin = pr
		go func() {
			_, _ = io.Copy(pw, stdin) // ends when stdin ends or pw is closed
			_ = pw.Close()
		}()
		defer pw.Close()
		defer pr.Close()
	}
	return l.wait(c)
}

// Interactive runs cmd wired to this process's terminal.
func (l *Local) Interactive(ctx context.Context, cmd string) error {
	c := l.command(ctx, cmd)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return l.wait(c)
}

// Close does nothing: there is no connection.
func (l *Local) Close() error { return nil }

func (l *Local) command(ctx context.Context, cmd string) *exec.Cmd {
	c := exec.CommandContext(ctx, "bash", "-c", cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGTERM) }
	c.WaitDelay = 3 * time.Second
	c.Dir = l.Dir
	if c.Dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			c.Dir = home
		}
	}
	if l.Env != nil {
		c.Env = append(os.Environ(), l.Env...)
	}
	return c
}

func (l *Local) wait(c *exec.Cmd) error {
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return localExitError{ee}
	}
	if err != nil {
		return fmt.Errorf("run bash: %w", err)
	}
	return nil
}
