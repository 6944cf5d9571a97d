package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// releaseCheck is a release-command that proves where it runs: in the new
// release, after build auto (node_modules' ms is there, and the app's
// build wrote built.txt) and before the switch (current is still the
// release before, or none). It records the release it ran in under
// shared/, as a migration records its version in the database.
const releaseCheck = `node -e "require('ms')" && test -f built.txt && ` +
	`test "$(readlink "$DEPLOY_PATH/current")" != "$DEPLOY_RELEASE" && test "$PWD" = "$DEPLOY_RELEASE" && ` +
	`echo "${DEPLOY_RELEASE##*/}" >> "$SHARED/migrated"`

// TestReleaseCommand: release-command runs once per deploy, in the new
// release after build auto and before the switch, as Heroku's release
// phase and Capistrano's deploy:migrate do (build auto alone gave a
// migration no place: an explicit pre-deploy replaces the build). When it
// fails, nothing switches: current and .deploys stay as they were.
// check looks for its command on PATH, as for the other hooks.
func TestReleaseCommand(t *testing.T) {
	requireTool(t, "npm")
	f := newFixture(t)
	f.origin.commitFiles(msApp)
	f.writeINI("build auto", "release-command "+releaseCheck)
	f.mustRun("production", "setup")
	r := f.mustRun("production")
	wantOut(t, r, "==> build", "==> release-command", "==> switch")
	if b := r.stdout; strings.Index(b, "==> release-command") > strings.Index(b, "==> switch") || strings.Index(b, "==> build") > strings.Index(b, "==> release-command") {
		t.Errorf("steps out of order:\n%s", b)
	}
	first := f.current()
	migrated := func() string {
		b, _ := os.ReadFile(filepath.Join(f.path, "shared", "migrated"))
		return string(b)
	}
	if got := migrated(); got != first+"\n" {
		t.Fatalf("release-command ran in %q, want once in %s", got, first)
	}

	f.origin.commit()
	f.writeINI("build auto", `release-command echo "migration 7 failed" >&2; exit 3`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r = f.run(ctx, "production")
	if r.code == 0 || !strings.Contains(r.stderr, "release-command exited with status 3: current is unchanged") || !strings.Contains(r.stdout+r.stderr, "migration 7 failed") {
		t.Errorf("a failing release-command: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if f.current() != first || migrated() != first+"\n" {
		t.Errorf("after the failed release-command current is %s (want %s), migrated %q", f.current(), first, migrated())
	}
	if ev := f.events(); ev[len(ev)-1] != "failed" || len(f.releases()) != 1 {
		t.Errorf(".deploys events %v, releases %v: want the failed deploy logged and its release gone", ev, f.releases())
	}
	// check looks for its command as for the other hooks'
	f.writeINI("build auto", "release-command no-such-migrator-xyz --up")
	if ck := f.run(ctx, "production", "check"); ck.code == 0 || !strings.Contains(ck.stdout, "hook:no-such-migrator-xyz  FAIL") {
		t.Errorf("check with a release-command not on PATH: exit %d\n%s%s", ck.code, ck.stdout, ck.stderr)
	}
}

// TestFleetReleaseCommandRunsOnce: across three hosts the release-command
// (a migration: one database for the fleet) runs on the first host alone,
// once, after every host is built and before any switches, as Capistrano
// migrates once every server is updated: here the other hosts' builds
// take 2 s longer than the first's, and the command counts the builds.
// Every host then ends on the new release. One that fails switches no
// host.
func TestFleetReleaseCommandRunsOnce(t *testing.T) {
	f, hosts := newFleetFixture(t)
	built := t.TempDir() // outside the hosts' own disks: every host sees it
	text, err := os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.conf, string(text)+fmt.Sprintf(`pre-deploy case "$SSH_CONNECTION" in *" %d") ;; *) sleep 2 ;; esac; mktemp -p %s >/dev/null
release-command test "$(ls %s | wc -l)" = 3 && test "$(readlink "$DEPLOY_PATH/current")" != "$DEPLOY_RELEASE" && echo "${DEPLOY_RELEASE##*/}" >> "$SHARED/migrated"
`, hosts[0].Port(), built, built))
	f.mustRun("production", "setup")
	r := f.mustRun("production")
	if n := strings.Count(r.stdout, "release-command"); n == 0 {
		t.Errorf("the output does not show the release-command step:\n%s", r.stdout)
	}
	rel := releaseOn(t, hosts[0])
	for i, h := range hosts {
		b, _ := os.ReadFile(filepath.Join(h.Root, "app", "shared", "migrated"))
		want := ""
		if i == 0 {
			want = rel + "\n"
		}
		if string(b) != want || releaseOn(t, h) != rel {
			t.Errorf("host %d (%s) is on %s and its migrations read %q; want %s and %q", i+1, h.Addr(), releaseOn(t, h), b, rel, want)
		}
	}

	text, err = os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.conf, strings.Replace(string(text), "release-command ", "release-command exit 4; ", 1))
	f.origin.commit()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r = f.run(ctx, "production")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "release-command exited with status 4: current is unchanged") ||
		!strings.Contains(r.stderr, "release failed on "+hosts[0].Addr()) || !strings.Contains(r.stderr, "no host switched") {
		t.Errorf("a failing release-command: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for i, h := range hosts {
		if releaseOn(t, h) != rel {
			t.Errorf("host %d switched to %s after the release-command failed", i+1, releaseOn(t, h))
		}
	}
}
