package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/report"
)

// logs is `deploy <env> logs [-f] [-n N] [FILE]`: every host's log at
// once, each line prefixed with its host. With -f it follows until Ctrl-C,
// which ends it normally. What the host's command writes on stderr goes to
// stderr, prefixed likewise, as ssh keeps the two apart (`logs | grep`
// filters the log, not procmon's error). A command that exited non-zero
// after saying why on stderr (procmon's "has no [log] file" and its hint)
// is not reported again: the summary gives its exit status.
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
	errs := report.NewOutput(c.stderr, names, report.OutputOptions{Colour: outputOptions(c.stderr).Colour})
	defer errs.Close()
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
			hw := errs.Host(h.String())
			defer hw.Flush()
			ew := &countingWriter{w: hw}
			err := c.withConn(ctx, h, func(conn deploy.Conn) error {
				return deploy.Logs(ctx, conn, c.env, lo, deploy.Options{Host: h.String(), Stdout: w, Stderr: ew})
			})
			if err != nil && !(lo.Follow && ctx.Err() != nil) {
				mu.Lock()
				defer mu.Unlock()
				var st interface{ ExitStatus() int }
				if errors.As(err, &st) && st.ExitStatus() > 0 && ew.n.Load() > 0 {
					failed = append(failed, fmt.Sprintf("%s (exit status %d)", h, st.ExitStatus()))
					return
				}
				printError(c.stderr, err)
				failed = append(failed, h.String())
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

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.w.Write(p)
}
