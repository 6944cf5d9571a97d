package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Everyday mistakes against the real sshd: each is refused or reported
// plainly, and none changes what the server runs by surprise.

// A branch that the origin does not have is refused after the fetch (with
// a ref, the fetch is the deploy's one contact with the origin) and before
// any release exists: not one byte under the app's path changes but the
// mirror's (the lock is free again, no `failed` line in .deploys, no
// release directory).
func TestE2EUnknownRefChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	// the mirror (repo/) is fetched, as every deploy with a ref does (it
	// is the origin's copy, not the server's state), under the lock,
	// which is freed again: empty, with a new mtime
	before := withoutMirror(snapshot(t, f.path))

	r := f.run(ctxFor(t), "production", "--ref", "no-such-branch")
	if r.code == 0 || !strings.Contains(r.stderr, "ref 'no-such-branch' is not a branch, tag or commit of") {
		t.Fatalf("deploy of a missing branch: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if after := withoutMirror(snapshot(t, f.path)); after != before {
		t.Fatalf("a refused ref changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// withoutMirror drops the mirror's lines (repo/…) from a snapshot, and the
// lock file's mtime.
func withoutMirror(snap string) string {
	var keep []string
	for _, l := range strings.Split(snap, "\n") {
		if strings.HasPrefix(l, ".deploy.lock ") {
			l = ".deploy.lock " + l[strings.LastIndexByte(l, ' ')+1:] // its content's hash, not its mtime
		}
		if l != "repo" && !strings.HasPrefix(l, "repo ") && !strings.HasPrefix(l, "repo/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// A sha that is not in the repo is found out after the fetch, under the
// lock, but leaves no release and no `failed` line behind.
func TestE2EUnknownShaLeavesNoTrace(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	events, releases := f.events(), f.releases()

	r := f.run(ctxFor(t), "production", "--ref", "0123456789abcdef0123")
	if r.code == 0 || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("deploy of a missing sha: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if got := f.events(); strings.Join(got, " ") != strings.Join(events, " ") {
		t.Errorf(".deploys events %v, want %v unchanged", got, events)
	}
	if got := f.releases(); strings.Join(got, " ") != strings.Join(releases, " ") {
		t.Errorf("releases %v, want %v unchanged", got, releases)
	}
}

// Without procmon or healthcheck nothing shows that a release serves: the
// deploy switches (as asked) but never says "deployed"; it says UNCHECKED,
// why, and what to set, on the terminal and in --json.
func TestE2EUngatedReleaseIsReportedUnchecked(t *testing.T) {
	f := newFixture(t)
	f.writeINI("restart-file tmp/restart.txt")
	f.mustRun("production", "setup")

	r := f.mustRun("production")
	if strings.Contains(r.stdout, "deployed ") || !strings.Contains(r.stdout, "UNCHECKED") {
		t.Errorf("stdout should report the release unchecked, not deployed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "set procmon or healthcheck") {
		t.Errorf("stderr should say what to set:\n%s", r.stderr)
	}

	f.origin.commit()
	r = f.mustRun("production", "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var sum struct {
		OK    bool `json:"ok"`
		Hosts []struct {
			Outcome   string `json:"outcome"`
			Unchecked string `json:"unchecked"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last --json line: %v\n%s", err, r.stdout)
	}
	if len(sum.Hosts) != 1 || sum.Hosts[0].Outcome != "unchecked" || sum.Hosts[0].Unchecked == "" {
		t.Errorf("summary %+v, want one host with outcome unchecked and a reason", sum)
	}
}

// `shared .env` makes shared/.env an empty file (mode 0640), never a
// directory, and links it into the release; `log` stays a directory and
// `shared-files` makes any name a file.
func TestE2ESharedEnvIsAFile(t *testing.T) {
	f := newFixture(t)
	f.writeINI("shared .env log", "shared-files secrets")
	f.mustRun("production", "setup")
	f.mustRun("production")

	for name, wantDir := range map[string]bool{".env": false, "secrets": false, "log": true} {
		info, err := os.Stat(filepath.Join(f.path, "shared", name))
		if err != nil {
			t.Fatalf("shared/%s: %v", name, err)
		}
		if info.IsDir() != wantDir {
			t.Errorf("shared/%s is a directory: %v, want %v", name, info.IsDir(), wantDir)
		}
		if !wantDir && info.Mode().Perm() != 0o640 {
			t.Errorf("shared/%s has mode %v, want 0640", name, info.Mode().Perm())
		}
		link, err := os.Readlink(filepath.Join(f.path, "current", name))
		if err != nil || link != filepath.Join(f.path, "shared", name) {
			t.Errorf("current/%s links to %q (%v), want shared/%s", name, link, err, name)
		}
	}
}

// Changing `repo` in deploy.conf takes effect on the next deploy, which
// says so: the mirror's origin follows the config, and `check` tells
// before it happens.
func TestE2EChangedRepoIsFollowed(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")

	moved := filepath.Join(t.TempDir(), "moved")
	f.origin.git("clone", "-q", "--bare", f.origin.dir, moved)
	work := filepath.Join(t.TempDir(), "work")
	f.origin.git("clone", "-q", moved, work)
	writeFile(t, filepath.Join(work, "VERSION"), "moved\n")
	f.origin.git("-C", work, "commit", "-qam", "only in the moved repo")
	f.origin.git("-C", work, "push", "-q", "origin", "main")
	want := f.origin.git("-C", work, "rev-parse", "HEAD")
	conf, err := os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.conf, strings.Replace(string(conf), "repo "+f.origin.dir, "repo "+moved, 1))

	if r := f.mustRun("production", "check"); !strings.Contains(r.stdout, "the next deploy switches it") {
		t.Errorf("check does not say the repo changed:\n%s", r.stdout)
	}
	r := f.mustRun("production")
	if !strings.Contains(r.stdout, "repo changed") {
		t.Errorf("the deploy does not say the repo changed:\n%s", r.stdout)
	}
	if got := f.currentSHA(); got != want {
		t.Errorf("current runs %s, want %s from the new repo", got, want)
	}
	out, err := exec.Command("git", "--git-dir", filepath.Join(f.path, "repo"), "config", "remote.origin.url").Output()
	if err != nil || strings.TrimSpace(string(out)) != moved {
		t.Errorf("mirror origin %q (%v), want %s", out, err, moved)
	}
}

// ctxFor is a context that ends with the test, bounded at two minutes.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
