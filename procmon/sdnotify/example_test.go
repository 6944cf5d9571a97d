package sdnotify_test

import (
	"context"
	"os"
	"time"

	"github.com/deploytool/deploy/procmon/sdnotify"
)

// Example shows a daemon's side: READY=1 once serving, watchdog pings from
// the main loop, STOPPING=1 on the way out. Without NOTIFY_SOCKET every
// call is a no-op. (Compiled, not run: under a service manager it would
// talk to it.)
func Example() {
	n := sdnotify.FromEnv(os.Getenv)
	wd, err := sdnotify.WatchdogFromEnv(n, os.Getenv, os.Getpid())
	if err != nil {
		return
	}
	n.Ready()
	n.Status("serving generation 1")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var ping <-chan time.Time
	if wd.Enabled() {
		t := time.NewTicker(wd.Interval())
		defer t.Stop()
		ping = t.C
	}
	for done := false; !done; {
		select {
		case <-ping:
			wd.Ping()
		case <-ctx.Done():
			done = true
		}
	}
	n.Stopping()
}
