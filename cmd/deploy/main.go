// Command deploy deploys a git repository to servers over SSH and rolls it
// back: the laptop half of deploy + procmon. See the README.
//
// SSH is set up as OpenSSH's own client does: ~ in ssh_config (and %d,
// ~/.ssh/config, ~/.ssh/known_hosts, the default identity files, and ~ in
// deploy.conf's key and ssh-config) is the login user's home from the
// passwd entry, not $HOME. The environment variable DEPLOY_SSH_HOME is for
// tests and sandboxes: a directory standing in for the login user's home,
// as `ssh -F DIR/.ssh/config` would. Its .ssh/config is read (unless -F or
// the ssh-config key names another file), /etc/ssh/ssh_config is not, and
// trust and --accept-new record host keys in its .ssh/known_hosts.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/deploytool/deploy/deploy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx (deploy aborts, or lets the server finish
	// what it switched); a second one gets the default action: exit now.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(ctx, err, os.Stderr))
}

// exitCode prints err once, with its hint, and maps it to an exit status:
// 0 ok, 2 usage, 130 interrupted, 1 anything else.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "interrupted")
		return 130
	}
	printError(stderr, err)
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	// exec: the command's own status, as ssh exits with it
	var x *deploy.ExitError
	if errors.As(err, &x) && x.Status > 0 && x.Status < 256 {
		return x.Status
	}
	return 1
}
