package remote_test

import (
	"context"
	"fmt"
	"os"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
)

// Dial a host named in deploy.conf (an ssh_config alias works too), run a
// command on the connection and print errors the way the CLI does.
func ExampleDial() {
	ctx := context.Background()
	var stats remote.Stats
	c, err := remote.Dial(ctx, remote.Target{Host: "web1", User: "deploy"}, remote.Options{Stats: &stats})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if h := hint.Of(err); h != "" {
			fmt.Fprintln(os.Stderr, "hint:", h)
		}
		return
	}
	defer c.Close()
	if err := c.Run(ctx, "uptime", nil, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	fmt.Println(stats.Connections.Load(), "connection,", stats.Sessions.Load(), "session")
}
