package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/report"
	"github.com/deploytool/deploy/internal/hint"
)

// status is `deploy <env> status`: one table for every host, read in
// parallel; a host that cannot be read says why in its row. It fails when
// a host, or with the procmon key procmon's state, could not be read, or
// when procmon does not serve current (another release, or nothing).
func (c *command) status(ctx context.Context) error {
	rows := make([]report.StatusRow, len(c.env.Hosts))
	deploy.EachHost(ctx, c.env, func(ctx context.Context, i int, h config.Host) {
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
		rows[i] = report.NewStatusRow(c.env.Name, h.String(), st, err, app, appErr)
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
	} else if err := report.WriteStatusTable(c.stdout, rows, c.env.Procmon != ""); err != nil {
		return err
	}
	return statusProblems(rows)
}

// statusProblems is the error of a status whose rows show something
// wrong: each host's problem on a line, and the hint of the first host
// whose procmon said what to do.
func statusProblems(rows []report.StatusRow) error {
	var lines []string
	fix := ""
	for _, r := range rows {
		if p := r.Problem(); p != "" {
			lines = append(lines, r.Host+": "+p)
			if fix == "" && r.Err == "" {
				fix = r.AppHint
			}
		}
	}
	if len(lines) == 0 {
		return nil
	}
	msg := fmt.Sprintf("status: %d of %d host(s) need attention\n%s", len(lines), len(rows), strings.Join(lines, "\n"))
	return hint.Wrap(errors.New(msg), fix)
}
