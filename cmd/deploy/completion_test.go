package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Shell completion offers the envs first, then the command words, even
// with flags in front (urfave/cli's --generate-bash-completion).
func TestCompletion(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "deploy.conf")
	writeFile(t, conf, "[production]\nhost h\nrepo r\npath /srv/a\n\n[staging]\nhost h\nrepo r\npath /srv/b\n")
	complete := func(args ...string) string {
		var out bytes.Buffer
		argv := append(append([]string{"deploy", "-c", conf}, args...), "--generate-bash-completion")
		if err := run(context.Background(), argv, strings.NewReader(""), &out, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	if got := complete(); got != "production\nstaging\n" {
		t.Errorf("envs: %q", got)
	}
	got := complete("production")
	for _, w := range []string{"setup", "revert", "status", "logs", "check"} {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("after an env, completion lacks %q: %q", w, got)
		}
	}
	if got := complete("help"); !strings.Contains(got, "revert\n") {
		t.Errorf("after help, completion lacks the commands: %q", got)
	}
	// After a command the shell completes file names: nothing from us.
	if got := complete("production", "logs"); got != "" {
		t.Errorf("after a command, completion offers %q, want nothing", got)
	}
}
