package main

import (
	"context"
	"fmt"
	"io"

	"github.com/deploytool/deploy/deploy"
)

// deploy deploys the env's ref (or the one given) to every host.
func (c *command) deploy(ctx context.Context) error {
	if c.inv.Ref != "" {
		if c.g.Ref != "" && c.g.Ref != c.inv.Ref {
			return usagef("give the ref once", "two refs given: %q and --ref %q", c.inv.Ref, c.g.Ref)
		}
		c.g.Ref = c.inv.Ref
	}
	if len(c.env.Hosts) == 1 {
		return c.deployOne(ctx, c.env.Hosts[0])
	}
	fo := deploy.FleetOptions{
		Options: c.options(deploy.Host{}, nil),
		Dial:    c.dial.dial,
		Output: func(h deploy.Host) io.Writer {
			return newPrefixWriter(c.stdout, h.String()+" | ")
		},
		NoRollback: c.g.NoRollback,
	}
	results, err := deploy.DeployFleet(ctx, c.env, fo)
	writeSummary(c.stdout, results)
	return err
}

func (c *command) deployOne(ctx context.Context, h deploy.Host) error {
	return c.withConn(ctx, h, func(conn deploy.Conn) error {
		o := c.options(h, c.stdout)
		o.OnStep = func(step string) { fmt.Fprintf(c.stdout, "==> %s\n", step) }
		res, err := deploy.Deploy(ctx, conn, c.env, o)
		if err != nil {
			return err
		}
		switch {
		case res.Reverted:
			return fmt.Errorf("deployed %s but the test hook failed: reverted to %s", short(res.NewSHA), short(res.OldSHA))
		default:
			fmt.Fprintf(c.stdout, "deployed %s -> %s (%s) to %s in %s\n",
				short(res.OldSHA), short(res.NewSHA), res.NewRelease, h, res.Duration.Round(msRound))
		}
		return nil
	})
}

// writeSummary prints one line per host: old -> new sha, time, outcome.
func writeSummary(w io.Writer, results []deploy.HostResult) {
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "HOST\tOLD\tNEW\tTIME\tRESULT")
	for _, r := range results {
		old, nw, took := "-", "-", "-"
		if r.Result != nil {
			old, nw = short(r.Result.OldSHA), short(r.Result.NewSHA)
			took = r.Result.Duration.Round(msRound).String()
		}
		outcome := r.Outcome
		if r.Err != nil {
			outcome = "failed: " + firstLine(r.Err.Error())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Host, old, nw, took, outcome)
	}
	tw.Flush()
}
