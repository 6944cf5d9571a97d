package main

import (
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy"
)

// TestListSaysWhenNoLineNamesCurrent: list marks current's line; when no
// line names current (a deploy cut off between its switch and its log
// line) it says so under the table instead of marking nothing silently.
func TestListSaysWhenNoLineNamesCurrent(t *testing.T) {
	entries := []deploy.LogEntry{{SHA: "1111111aaaa", Release: "r1", Event: deploy.EventDeploy}, {SHA: "2222222bbbb", Release: "r2", Event: deploy.EventDeploy}}
	const note = "current is r3, which no line of .deploys names"
	for _, c := range []struct {
		current  string
		mark, no bool
	}{{"r2", true, false}, {"r3", false, true}, {"", false, false}} {
		var b strings.Builder
		writeLog(&b, &deploy.Log{Current: c.current, Entries: entries})
		out := b.String()
		if strings.Contains(out, "* ") != c.mark || strings.Contains(out, note) != c.no {
			t.Errorf("current %q:\n%s", c.current, out)
		}
	}
	var b strings.Builder
	writeLog(&b, &deploy.Log{Current: "r3"})
	if out := b.String(); !strings.HasPrefix(out, "no deploys yet\n"+note) {
		t.Errorf("an empty log with current r3:\n%s", out)
	}
}
