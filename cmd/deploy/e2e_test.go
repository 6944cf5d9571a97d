package main

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDeployLifecycleOverSSH is the whole single-host story against a real
// sshd, through the CLI: setup (twice), deploy, deploy again, revert 1
// twice (goes back two, never toggles), revert 2, list/curr/prev/config.
// It runs once from the classic INI form and once from its TOML twin, and
// both must leave the same history.
func TestDeployLifecycleOverSSH(t *testing.T) {
	type outcome struct {
		events []string
		shas   []int // which commit current held after each step
	}
	runStory := func(t *testing.T, toml bool) outcome {
		f := newFixture(t)
		if toml {
			f.writeTOML(`shared = ["log"]`, "keep = 10")
		} else {
			f.writeINI("shared log", "keep 10")
		}
		shas := []string{"", f.origin.git("-C", f.origin.dir, "rev-parse", "HEAD")}
		f.mustRun("production", "setup")
		f.mustRun("production", "setup") // harmless twice
		var held []int
		which := func() int {
			for i, s := range shas {
				if s != "" && s == f.currentSHA() {
					return i
				}
			}
			t.Fatalf("current holds %s, not a known commit", f.currentSHA())
			return -1
		}
		r := f.mustRun("production")
		if !strings.Contains(r.stdout, "UNCHECKED") { // no gate in this config
			t.Errorf("deploy output says nothing about the deploy:\n%s", r.stdout)
		}
		held = append(held, which())
		for i := 0; i < 4; i++ {
			shas = append(shas, f.origin.commit())
			f.mustRun("production")
			held = append(held, which())
		}
		f.mustRun("production", "revert")
		held = append(held, which())
		f.mustRun("production", "revert", "1") // again: one further back, no toggle
		held = append(held, which())
		f.mustRun("production", "revert", "2")
		held = append(held, which())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if r := f.run(ctx, "production", "revert"); r.code == 0 || !strings.Contains(r.stderr, "error:") {
			t.Errorf("revert past the first deploy: exit %d, stderr %q; want a clear error", r.code, r.stderr)
		}
		held = append(held, which())

		cur := f.mustRun("production", "curr")
		if !strings.HasPrefix(cur.stdout, f.currentSHA()) || !strings.Contains(cur.stdout, f.current()) {
			t.Errorf("curr = %q, want the sha and release of %s", cur.stdout, f.current())
		}
		list := f.mustRun("production", "list")
		if n := strings.Count(list.stdout, "\n"); n != 9 { // header + 5 deploys + 3 reverts
			t.Errorf("list has %d lines, want 9:\n%s", n, list.stdout)
		}
		if got := f.mustRun("production", "config", "path").stdout; strings.TrimSpace(got) != f.path {
			t.Errorf("config path = %q, want %q", got, f.path)
		}
		if _, err := filepath.EvalSymlinks(filepath.Join(f.path, "current", "log")); err != nil {
			t.Errorf("shared log not linked into the release: %v", err)
		}
		return outcome{events: f.events(), shas: held}
	}

	ini := runStory(t, false)
	want := []int{1, 2, 3, 4, 5, 4, 3, 1, 1}
	if !reflect.DeepEqual(ini.shas, want) {
		t.Fatalf("commits held after each step = %v, want %v", ini.shas, want)
	}
	wantEvents := []string{"deploy", "deploy", "deploy", "deploy", "deploy", "revert", "revert", "revert"}
	if !reflect.DeepEqual(ini.events, wantEvents) {
		t.Errorf(".deploys events = %v, want %v", ini.events, wantEvents)
	}
	toml := runStory(t, true)
	if !reflect.DeepEqual(ini, toml) {
		t.Errorf("INI and TOML forms differ:\n ini  %+v\n toml %+v", ini, toml)
	}
}
