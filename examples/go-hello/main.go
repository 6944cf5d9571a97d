// Command go-hello is the Go sample app for deploy and procmon.
//
// It answers "hello from <version>" on /, "ok" on /health, and
// /slow?ms=N answers after N milliseconds (at most 10 s) so that a reload
// can be watched draining a request in flight.
//
// Where it listens: when procmon (or systemd) passes a socket, that is
// LISTEN_FDS=1 and LISTEN_PID equal to this process's pid, it serves on
// fd 3; otherwise it listens on HOST:PORT (default 127.0.0.1:8080). Once
// serving it sends READY=1 to $NOTIFY_SOCKET when that is set. On SIGTERM
// or SIGINT it stops accepting, lets requests in flight finish (up to 25 s)
// and exits 0; a second signal ends it at once.
//
// The version is the first of: a VERSION file, the REVISION file that
// deploy writes into each release (the full commit sha), $APP_VERSION,
// "unknown". Files are looked for in the working directory, then next to
// the binary and in its parent directory (bin/go-hello → release root).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// drainTimeout bounds the graceful shutdown; procmon's stop_timeout (30 s
// by default) is the hard limit after which it sends SIGKILL.
const drainTimeout = 25 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second signal now gets the default action: exit at once
	}()
	if err := run(ctx, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "go-hello: error: %v\n", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled, then drains and returns.
func run(ctx context.Context, logw io.Writer) error {
	version := readVersion()
	ln, where, err := listen()
	if err != nil {
		return err
	}
	d := newDrainer()
	srv := &http.Server{
		Handler:           d.wrap(newHandler(version)),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         d.track,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(logw, "go-hello %s serving on %s (pid %d)\n", version, where, os.Getpid())
	if err := notify("READY=1"); err != nil {
		fmt.Fprintf(logw, "go-hello: warning: %v\n", err)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", where, err)
	case <-ctx.Done():
	}
	fmt.Fprintf(logw, "go-hello: stopping: finishing requests in flight (up to %s)\n", drainTimeout)
	if err := notify("STOPPING=1"); err != nil {
		fmt.Fprintf(logw, "go-hello: warning: %v\n", err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := d.stop(dctx, srv, ln); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	<-served // Serve returned when the listener closed
	fmt.Fprintln(logw, "go-hello: stopped")
	return nil
}
