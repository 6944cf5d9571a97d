package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/deploytool/deploy/deploy"
)

// status is `deploy <env> status`: one table for every host, read in
// parallel; a host that cannot be read says why in its row.
func (c *command) status(ctx context.Context) error {
	rows := make([]deploy.StatusRow, len(c.env.Hosts))
	c.eachHostParallel(ctx, func(ctx context.Context, i int, h deploy.Host) {
		var st *deploy.HostStatus
		var app *deploy.AppStatus
		var appErr error
		err := c.withConn(ctx, h, func(conn deploy.Conn) error {
			var err error
			st, err = deploy.Status(ctx, conn, c.env, c.options(h, nil))
			if err != nil {
				return err
			}
			if c.env.Procmon != "" {
				app, appErr = deploy.AppStatusOf(ctx, conn, c.env)
			}
			return nil
		})
		rows[i] = deploy.NewStatusRow(h.String(), st, err, app, appErr)
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.g.JSON {
		enc := json.NewEncoder(c.stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	} else if err := deploy.WriteStatusTable(c.stdout, rows, c.env.Procmon != ""); err != nil {
		return err
	}
	var bad int
	for _, r := range rows {
		if r.Err != "" {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("status: %d of %d host(s) could not be read", bad, len(rows))
	}
	return nil
}
