package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// LogEvent is the kind of a .deploys line.
type LogEvent string

// The events of .deploys.
const (
	EventDeploy LogEvent = "deploy" // a successful deploy switched current
	EventRevert LogEvent = "revert" // current was put back to an older release
	EventFailed LogEvent = "failed" // a deploy failed or was aborted before the switch
)

// LogEntry is one line of <path>/.deploys:
// "<sha>\t<release>\t<UTC time>\t<event>\t<ref>\t<user@laptop>".
type LogEntry struct {
	// SHA is the full commit sha ("" when a failure happened before it was known).
	SHA string
	// Release is the release id, e.g. 20261124T061502Z-3f9c2ab ("" likewise).
	Release string
	// Time is when the event was logged (UTC).
	Time time.Time
	// Event is deploy, revert or failed.
	Event LogEvent
	// Ref is the ref deployed (for a revert: the ref of the release
	// reverted to).
	Ref string
	// By is who did it, user@laptop.
	By string
}

// Log is the deploy log of one host and what current points at.
type Log struct {
	// Current is the release id current points at ("" = nothing deployed).
	Current string
	// Entries are the lines of .deploys, oldest first.
	Entries []LogEntry
}

// ParseLog parses the text of a .deploys file. A line with fewer fields (a
// classic deploy's log holds only the sha) keeps what it has; a bad time or
// event is an error naming the line.
func ParseLog(data []byte) ([]LogEntry, error) {
	var entries []LogEntry
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		for len(f) < 6 {
			f = append(f, "")
		}
		e := LogEntry{SHA: dash(f[0]), Release: dash(f[1]), Event: LogEvent(f[3]), Ref: dash(f[4]), By: dash(f[5])}
		if f[2] != "" {
			t, err := time.Parse(time.RFC3339, f[2])
			if err != nil {
				return nil, fmt.Errorf(".deploys line %d: time %q is not RFC 3339", i+1, f[2])
			}
			e.Time = t
		}
		switch e.Event {
		case EventDeploy, EventRevert, EventFailed:
		case "":
			e.Event = EventDeploy // a classic log line: just the sha
		default:
			return nil, fmt.Errorf(".deploys line %d: unknown event %q", i+1, f[3])
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// List reads the host's .deploys and what current points at.
func List(ctx context.Context, conn Conn, env *config.Env, o Options) (*Log, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	log := &Log{}
	err = runSimple(ctx, conn, "list", args, Options{Host: o.Host, Stdout: &out}, func(ev script.Message) {
		if ev.Kind == script.KindCurrent {
			log.Current = strings.TrimSpace(ev.Rest)
		}
	})
	if err != nil {
		return nil, err
	}
	if log.Entries, err = ParseLog(out.Bytes()); err != nil {
		return nil, hostErr(o.Host, err)
	}
	return log, nil
}

// Release is one release directory on a host.
type Release struct {
	// ID is the release id, e.g. 20261124T061502Z-3f9c2ab.
	ID string
	// SHA is the commit in it (from its REVISION file; "" when pruned).
	SHA string
	// Pruned is true when the directory no longer exists.
	Pruned bool
}

// Current returns the release current points at; an error says when
// nothing is deployed yet.
func Current(ctx context.Context, conn Conn, env *config.Env, o Options) (Release, error) {
	return release(ctx, conn, env, o, "curr")
}

// NothingDeployed reports whether err is Current's (or Previous's) answer
// that nothing is deployed on the host yet.
func NothingDeployed(err error) bool {
	var se *StepError
	return errors.As(err, &se) && strings.HasPrefix(se.Message, "nothing is deployed yet")
}

// Previous returns the release `revert 1` would go back to (the server
// computes it with the same rule as revert).
func Previous(ctx context.Context, conn Conn, env *config.Env, o Options) (Release, error) {
	return release(ctx, conn, env, o, "prev")
}

func release(ctx context.Context, conn Conn, env *config.Env, o Options, sub string) (Release, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return Release{}, err
	}
	var rel Release
	err = runSimple(ctx, conn, sub, args, Options{Host: o.Host}, func(ev script.Message) {
		if ev.Kind == script.KindRelease && len(ev.Fields) == 3 {
			rel = Release{ID: ev.Fields[0], SHA: dash(ev.Fields[1]), Pruned: ev.Fields[2] == "pruned"}
		}
	})
	if err == nil && rel.ID == "" {
		err = hostErr(o.Host, fmt.Errorf("%s: the server gave no release", sub))
	}
	return rel, err
}

// ShortSHA is the 7-character form of a commit sha that output shows
// ("-" for none), as git's --abbrev and the release names use.
func ShortSHA(sha string) string {
	switch {
	case sha == "":
		return "-"
	case len(sha) > 7:
		return sha[:7]
	}
	return sha
}
