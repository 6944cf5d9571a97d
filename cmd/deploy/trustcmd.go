package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/deploytool/deploy/deploy/remote"
)

// trust is `deploy <env> trust`, the safe step the unknown-host-key hint
// names: for every host, and the jump hosts on the way, it shows the host
// key's SHA256 fingerprint and records a key seen for the first time in
// known_hosts, as --accept-new would, but deploys nothing: it logs in and
// opens no session, so nothing runs on any host. A changed key stays a
// refusal (its hint says how to remove the old one). Hosts are done in
// turn, so that a passphrase is asked once, in order.
func (c *command) trust(ctx context.Context) error {
	if c.g.Transport == "local" {
		return usagef("drop --transport local: trust is about SSH host keys", "--transport local has no host keys to trust")
	}
	var failed []string
	added := 0
	for _, h := range c.env.Hosts {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		keys, err := c.dial.trust(ctx, h)
		for _, k := range keys {
			writeHostKey(c.stdout, h.String(), k)
			if k.Added {
				added++
			}
		}
		switch {
		case err != nil && (len(c.env.Hosts) == 1 || ctx.Err() != nil):
			return err
		case err != nil:
			printError(c.stderr, fmt.Errorf("%s: %w", h, err))
			failed = append(failed, h.String())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("trust failed on %s", strings.Join(failed, ", "))
	}
	fmt.Fprintf(c.stdout, "%d new host key(s) recorded; nothing was run on any host\n", added)
	return nil
}

// writeHostKey prints one host key the way `ssh-keygen -l` names it
// (type, SHA256 fingerprint) and whether it was just recorded.
func writeHostKey(w io.Writer, host string, k remote.HostKey) {
	what := "already known"
	if k.Added {
		what = "new: recorded in " + k.File
	}
	name := host
	if k.Jump {
		name = k.Host + " (jump host for " + host + ")"
	}
	fmt.Fprintf(w, "%s: %s %s  %s\n", name, k.Type, k.Fingerprint, what)
}
