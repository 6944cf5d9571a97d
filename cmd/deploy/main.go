// Command deploy deploys a git repository to servers over SSH and rolls it
// back: the laptop half of deploy + procmon. See the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
	return 1
}
