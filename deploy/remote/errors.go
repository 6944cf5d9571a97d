package remote

import (
	"fmt"

	"github.com/deploytool/deploy/internal/hint"
)

// Error is a failure to reach, log in to or use a host. Hint, when not
// empty, says what to do about it.
type Error struct {
	// Op is what failed, e.g. "connect to", "log in to".
	Op string
	// Host names the host, "user@host:port" (or a key file for key errors).
	Host string
	// Err is the underlying error.
	Err  error
	hint string
}

// Error reads "<op> <host>: <err>".
func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Host, e.Err) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Hint says what the user can do, or "" (then the wrapped error's hint).
func (e *Error) Hint() string {
	if e.hint != "" {
		return e.hint
	}
	return hint.Of(e.Err)
}

// ExitError is a remote command that ran and exited non-zero or was
// killed by a signal.
type ExitError struct {
	// Host is "user@host:port".
	Host string
	// Status is the exit status (128+n for signal n, as a shell reports).
	Status int
	// Signal names the signal that killed the command ("TERM"), or "".
	Signal string
}

// Error reads "command on <host> exited with status N".
func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("command on %s was killed by signal %s", e.Host, e.Signal)
	}
	return fmt.Sprintf("command on %s exited with status %d", e.Host, e.Status)
}

// ExitStatus returns Status (deploy.Conn's contract).
func (e *ExitError) ExitStatus() int { return e.Status }
