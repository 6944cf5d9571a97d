package main

import (
	"bytes"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/deploytool/deploy/deploy"
)

const msRound = time.Millisecond

// writeLog prints .deploys as a table, newest last, marking current; a
// current that no line names (a deploy cut off between its switch and its
// log line) is said below it.
func writeLog(w io.Writer, log *deploy.Log) {
	named := false
	defer func() {
		if log.Current != "" && !named {
			fmt.Fprintf(w, "current is %s, which no line of .deploys names: a deploy cut off between its switch and its log line (its script killed, or the power lost); 'revert' goes back to the last deploy\n", log.Current)
		}
	}()
	if len(log.Entries) == 0 {
		fmt.Fprintln(w, "no deploys yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "\tTIME\tEVENT\tSHA\tRELEASE\tREF\tBY")
	for _, e := range log.Entries {
		mark := " "
		named = named || e.Release != "" && e.Release == log.Current
		if e.Release != "" && e.Release == log.Current && e.Event != deploy.EventFailed {
			mark = "*"
		}
		ts := "-"
		if !e.Time.IsZero() {
			ts = e.Time.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, ts, e.Event, deploy.ShortSHA(e.SHA), dashed(e.Release), dashed(e.Ref), dashed(e.By))
	}
}

func dashed(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeUnlock(w io.Writer, r deploy.UnlockResult) {
	switch r.State {
	case "never":
		fmt.Fprintln(w, "not locked: nothing was ever deployed here")
	case "broken":
		fmt.Fprintf(w, "lock broken: stopped %s\n", r.Holder)
	default:
		if r.Holder == "" {
			fmt.Fprintln(w, "not locked")
			return
		}
		fmt.Fprintf(w, "not locked; the last holder was %s (it is gone)\n", r.Holder)
	}
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
