package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUnremovableOldReleaseIsAWarning: an old release holds files the
// deploy user cannot remove (a `sudo npm install` in it left root's). The
// deploy that prunes it is live: it used to fail in its prune step (exit
// 1, "prune: exit status 1", after the switch and the .deploys line), and
// every deploy after it too, while the releases piled up. Now it succeeds
// with a warning that says what to remove; what is left is renamed out of
// the releases (.prune-<id>), so no revert switches to a half-removed
// release; and once the files can go, the next prune removes it.
func TestUnremovableOldReleaseIsAWarning(t *testing.T) {
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	f.origin.commit()
	f.writeINI("keep 2")
	f.mustRun("production", "setup")
	f.mustRun("production")
	first := f.current()
	rootOwned := filepath.Join(f.path, "releases", first, "node_modules", "x")
	if err := os.MkdirAll(rootOwned, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rootOwned, "index.js"), "module.exports = 1\n")
	f.origin.commit()
	f.mustRun("production")
	second := f.current()

	f.origin.commit()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.run(ctx, "production")
	if r.code != 0 {
		t.Fatalf("the deploy whose prune meets root's files: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	third := f.current()
	trash := filepath.Join(f.path, "releases", ".prune-"+first)
	for _, want := range []string{"warning: 127.0.0.1: old release(s) " + first + " could not be removed", "sudo rm -rf " + f.path + "/releases/.prune-<release>"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "warning: old release "+first+" could not be removed: the deploy is live; remove "+trash+" by hand") {
		t.Errorf("the output does not say what to remove:\n%s", r.stdout)
	}
	if got := f.releases(); len(got) != 3 || got[0] != ".prune-"+first || got[1] != second || got[2] != third {
		t.Errorf("releases %v, want .prune-%s, %s, %s", got, first, second, third)
	}
	if ev := f.events(); ev[len(ev)-1] != "deploy" || f.currentSHA() != f.origin.git("-C", f.origin.dir, "rev-parse", "HEAD") {
		t.Errorf("events %v, current %s", ev, f.currentSHA())
	}
	// What is left of the first release is no release: revert 2 says it
	// was pruned instead of switching to it.
	r = f.run(ctx, "production", "revert", "2")
	if r.code == 0 || !strings.Contains(r.stderr, "release "+first+" was pruned") || f.current() != third {
		t.Errorf("revert 2: exit %d, current %s\n%s", r.code, f.current(), r.stderr)
	}

	// The files can go now (sudo rm, by hand): the next prune removes it.
	if err := os.RemoveAll(filepath.Join(trash, "node_modules", "x")); err != nil {
		t.Fatal(err)
	}
	f.origin.commit()
	r = f.mustRun("production")
	if strings.Contains(r.stdout+r.stderr, "could not be removed") {
		t.Errorf("a warning after the files went:\n%s\n%s", r.stdout, r.stderr)
	}
	if got := f.releases(); len(got) != 2 || strings.HasPrefix(got[0], ".prune-") {
		t.Errorf("releases %v, want the newest two", got)
	}
}
