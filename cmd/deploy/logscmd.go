package main

import (
	"context"

	"fmt"
	"strings"
	"sync"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/report"
)

// logs is `deploy <env> logs [-f] [-n N] [FILE]`: every host's log at
// once, each line prefixed with its host. With -f it follows until Ctrl-C,
// which ends it normally.
func (c *command) logs(ctx context.Context) error {
	lo := deploy.LogOptions{Follow: c.g.Follow, Lines: c.g.Lines}
	if len(c.inv.Args) == 1 {
		lo.File = c.inv.Args[0]
	}
	if _, err := deploy.LogCommand(c.env, lo); err != nil {
		return err
	}
	names := hostNames(c.env.Hosts)
	out := report.NewOutput(c.stdout, names, report.OutputOptions{Colour: outputOptions(c.stdout).Colour})
	defer out.Close()
	var mu sync.Mutex
	var failed []string
	// Logs of every host stream at once: no Parallel cap, or -f would
	// never reach the hosts past it.
	var wg sync.WaitGroup
	for _, h := range c.env.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := out.Host(h.String())
			defer w.Flush()
			err := c.withConn(ctx, h, func(conn deploy.Conn) error {
				return deploy.Logs(ctx, conn, c.env, lo, deploy.Options{Host: h.String(), Stdout: w})
			})
			if err != nil && !(lo.Follow && ctx.Err() != nil) {
				mu.Lock()
				printError(c.stderr, err)
				failed = append(failed, h.String())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("logs failed on %s", strings.Join(failed, ", "))
	}
	if ctx.Err() != nil && !lo.Follow {
		return ctx.Err()
	}
	return nil
}
