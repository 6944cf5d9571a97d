package procmon_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/deploytool/deploy/procmon"
)

// ExampleDaemon is `procmon run` in a few lines: the daemon owns the
// control socket (a second one for the app is refused), the log file,
// the metrics and the sd_notify messages; SIGHUP reloads.
func ExampleDaemon() {
	cfg, err := procmon.LoadConfig("/etc/procmon/blog.toml")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return
	}
	d, err := procmon.NewDaemon(cfg, procmon.DaemonOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			d.ReloadAsync("signal")
		}
	}()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
}
