package deploy

import (
	"context"
	"io"
)

// Conn is one open connection to a host. A deploy opens exactly one per
// host and runs every remote step over it. deploy/remote implements it over
// SSH; a local implementation runs the same commands with the local bash.
type Conn interface {
	// Run runs the command line cmd on the host (through the login user's
	// shell, as sshd does) and returns when it exits. A non-zero exit is an
	// error implementing ExitStatus() int.
	Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error
	// Interactive runs cmd with a pseudo-terminal wired to the local
	// terminal (console, exec with a TTY).
	Interactive(ctx context.Context, cmd string) error
	// Close closes the connection.
	Close() error
}

// loginUser returns the user conn runs commands as, when it says (an SSH
// connection does), else "".
func loginUser(conn Conn) string {
	if u, ok := conn.(interface{ User() string }); ok {
		return u.User()
	}
	return ""
}
