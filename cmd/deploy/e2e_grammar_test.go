package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// connections counts the SSH connections sshd has accepted so far (its
// VERBOSE log has one "Connection from" line each).
func (f *fixture) connections() int {
	return strings.Count(f.sshd.Logs(), "Connection from ")
}

// tree lists every file under the app's path with its size and mtime: any
// write on the server changes it.
func (f *fixture) tree() string {
	f.t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(f.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return b.String()
}

// A mistyped env or command, a ref where the env goes, a command without
// its env, help and version: none of them connects to the server, even
// with one env and a branch named like the word. Before, `deploy staging`
// deployed branch staging to production, and `deploy prodution`, `deploy
// production rollbak`, `deploy help`, `deploy version` each connected,
// took the lock and logged a failed deploy.
func TestGrammarNeverDialsByMistake(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.origin.git("-C", f.origin.dir, "branch", "staging")
	f.origin.git("-C", f.origin.dir, "branch", "rollbak")
	f.mustRun("production", "setup")
	before, dialled := f.tree(), f.connections()

	tests := []struct {
		args        string
		code        int
		out, errOut string
	}{
		{"staging", 2, "", `unknown environment "staging"`},
		{"staging --dry-run", 2, "", `unknown environment "staging"`},
		{"prodution", 2, "", `did you mean production?`},
		{"prod revert", 2, "", `did you mean production?`},
		{"production rollbak", 2, "", `did you mean revert/rollback?`},
		{"production stauts", 2, "", `did you mean status?`},
		{"production lsit", 2, "", `did you mean list?`},
		{"setup", 2, "", "hint: name it: deploy production setup"},
		{"revert", 2, "", "hint: name it: deploy production revert"},
		{"help rollbak", 2, "", `did you mean revert/rollback?`},
		{"help", 0, "USAGE:", ""},
		{"--help", 0, "USAGE:", ""},
		{"production --help", 0, "deploy <env> [<ref>]", ""},
		{"help revert", 0, "deploy <env> revert [N]", ""},
		{"production help revert", 0, "deploy <env> revert [N]", ""},
		{"production revert --help", 0, "deploy <env> revert [N]", ""},
		{"version", 0, "deploy version ", ""},
		{"production version", 0, "deploy version ", ""},
		{"--version", 0, "deploy version ", ""},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r := f.run(ctx, strings.Fields(tt.args)...)
		cancel()
		if r.code != tt.code || !strings.Contains(r.stdout, tt.out) || !strings.Contains(r.stderr, tt.errOut) {
			t.Errorf("deploy %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, r.code, tt.code, r.stdout, r.stderr)
		}
		if tt.code == 2 && !strings.Contains(r.stderr, "hint: ") {
			t.Errorf("deploy %s: no hint:\n%s", tt.args, r.stderr)
		}
	}
	if n := f.connections(); n != dialled {
		t.Errorf("sshd accepted %d connection(s) during the mistakes, want none", n-dialled)
	}
	if after := f.tree(); after != before {
		t.Errorf("the server's path changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// --ref says "this is a branch": it deploys, and the counter above
	// does see connections.
	f.mustRun("production", "--ref", "rollbak")
	if f.connections() == dialled {
		t.Error("a deploy left no connection in sshd's log: the check above proves nothing")
	}
	if got := f.events(); len(got) != 1 || got[0] != "deploy" {
		t.Errorf(".deploys events = %v, want one deploy", got)
	}
}
