package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/report"
	"github.com/deploytool/deploy/internal/hint"
)

// check is `deploy <env> check`: deploy.Check on every host in parallel,
// plus whether all hosts are on the same current; it changes nothing and
// fails when any item failed.
func (c *command) check(ctx context.Context) error {
	rows := make([]report.CheckRow, len(c.env.Hosts))
	deploy.EachHost(ctx, c.env, func(ctx context.Context, i int, h config.Host) {
		row := report.CheckRow{Host: h.String()}
		err := c.withConn(ctx, h, func(conn deploy.Conn) error {
			o := c.options(h, nil)
			items, err := deploy.Check(ctx, conn, c.env, o)
			if err != nil {
				return err
			}
			row.Items = items
			st, err := deploy.Status(ctx, conn, c.env, o)
			if err != nil {
				return err
			}
			row.Current = st.Current
			return nil
		})
		if err != nil {
			row.Err = err.Error()
		}
		rows[i] = row
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.g.JSON {
		return c.checkJSON(rows)
	}
	failed, err := report.WriteCheckTable(c.stdout, rows)
	if err != nil {
		return err
	}
	if failed > 0 {
		return hint.Errorf("see the hints above; nothing was changed", "check: %d item(s) failed", failed)
	}
	return nil
}

// checkJSON prints one object per host, then a summary object.
func (c *command) checkJSON(rows []report.CheckRow) error {
	enc := json.NewEncoder(c.stdout)
	ok := true
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
		ok = ok && r.Err == ""
		for _, it := range r.Items {
			ok = ok && it.OK
		}
	}
	same := report.SameCurrent(rows)
	ok = ok && same.OK
	if err := enc.Encode(map[string]any{"summary": true, "ok": ok, "same_current": report.CheckItemJSON(same)}); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("check: some items failed")
	}
	return nil
}
