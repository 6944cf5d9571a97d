package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// deployedAsUser is a host whose deploy user is not root, set up and
// deployed once with a config of extra lines.
func deployedAsUser(t *testing.T, extra ...string) userHost {
	t.Helper()
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	u.f.origin.commit()
	u.f.writeINI(extra...)
	u.f.mustRun("production", "setup")
	u.f.mustRun("production")
	return u
}

// TestUnremovableOldReleaseIsAWarning: an old release holds files the
// deploy user cannot remove (a `sudo npm install` in it left root's). The
// deploy that prunes it is live: it used to fail in its prune step (exit
// 1, "prune: exit status 1", after the switch and the .deploys line), and
// every deploy after it too, while the releases piled up. Now it succeeds
// with a warning that says what to remove; what is left is renamed out of
// the releases (.prune-<id>), so no revert switches to a half-removed
// release; and once the files can go, the next prune removes it.
func TestUnremovableOldReleaseIsAWarning(t *testing.T) {
	u := deployedAsUser(t, "keep 2")
	f := u.f
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
	// (ids of one second sort by sha, not by time)
	if got := f.releases(); len(got) != 3 || !slices.Contains(got, ".prune-"+first) || !slices.Contains(got, second) || !slices.Contains(got, third) {
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
	if got := f.releases(); len(got) != 2 || slices.Contains(got, ".prune-"+first) {
		t.Errorf("releases %v, want the newest two", got)
	}
}

// TestFilesOfAnotherUserSaySo: the lock file or .deploys owned by another
// user (a deploy once run as root) stops a deploy with the file, what to
// do, and nothing changed; the lock file used to end it with "lock: exit
// status 1".
func TestFilesOfAnotherUserSaySo(t *testing.T) {
	u := deployedAsUser(t)
	f := u.f
	current, releases := f.current(), strings.Join(f.releases(), " ")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for file, want := range map[string]string{
		".deploy.lock": "cannot open " + f.path + "/.deploy.lock (the line above says why): " + f.path + " and what is in it must be the deploy user's (chown -R), on a disk with room: nothing was changed",
		".deploys":     "cannot append to " + f.path + "/.deploys (full disk, read-only, or another user's?): current is unchanged",
	} {
		p := filepath.Join(f.path, file)
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		f.origin.commit()
		r := f.run(ctx, "production")
		if r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "Permission denied") {
			t.Errorf("%s owned by root: exit %d, want the error %q and the system's reason\n%s", file, r.code, want, r.stderr)
		}
		if f.current() != current || strings.Join(f.releases(), " ") != releases {
			t.Errorf("%s owned by root: current %s, releases %v: want them as they were", file, f.current(), f.releases())
		}
		chown(t, p, u.deployer)
	}
}

// TestCheckFindsFilesOfAnotherUser: `deploy <env> check`, the preflight,
// said "all checks passed" with .deploys, releases/ or the mirror owned
// by root (a deploy run as root once), and died with "ssh FAIL: start:
// exit status 1" on a root-owned lock file. Its `writable` row now names
// the first such path, and the lock row still reads the lock.
func TestCheckFindsFilesOfAnotherUser(t *testing.T) {
	u := deployedAsUser(t, "build auto")
	f := u.f
	if r := f.mustRun("production", "check"); !strings.Contains(r.stdout, "writable     ok") {
		t.Fatalf("check before anything changed hands:\n%s", r.stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	heads := filepath.Join("repo", "refs", "heads")
	for _, rel := range []string{".deploy.lock", ".deploys", "releases", heads, "."} {
		p := filepath.Join(f.path, rel)
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		r := f.run(ctx, "production", "check")
		want := "writable     FAIL    " + filepath.Clean(p) + " is another user's or read-only for " + u.deployer.Name
		if r.code == 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "lock         ok      free") {
			t.Errorf("%s owned by root: exit %d, want the row %q and the lock read\n%s\n%s", rel, r.code, want, r.stdout, r.stderr)
		}
		chown(t, p, u.deployer)
	}
}

// TestCheckAfterRootDeployedNode: an app root deployed with build auto
// (its node_modules linked into a cache entry made immutable) is handed
// to a deploy user. check names the first path root owns, and its hint,
// run as written, clears the cache's immutable attribute before the chown
// -R (which an immutable file refuses, root's included) and makes the
// path the user's: check passes and the user's deploy goes through.
func TestCheckAfterRootDeployedNode(t *testing.T) {
	requireTool(t, "npm")
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	f.origin.commitFiles(msApp)
	asRoot := newFixture(t)
	asRoot.origin, asRoot.path = f.origin, f.path
	asRoot.writeINI("build auto")
	asRoot.mustRun("production", "setup")
	wantOut(t, asRoot.mustRun("production"), "by links to an immutable cache entry")
	useHome(t, f.home) // the deploy user's ~/.ssh again
	f.writeINI("build auto")
	r := f.run(context.Background(), "production", "check")
	want := "writable     FAIL    " + f.path + "/releases is another user's"
	i := strings.Index(r.stdout, want)
	if r.code == 0 || i < 0 {
		t.Fatalf("check after root's deploy: exit %d, want a row %q\n%s\n%s", r.code, want, r.stdout, r.stderr)
	}
	_, hint, _ := strings.Cut(r.stdout[i:], "(as root: ")
	hint, _, _ = strings.Cut(hint, ")")
	if !strings.HasPrefix(hint, "chattr -R -f -i "+f.path+"/.cache/deps; chown -R "+u.deployer.Name+" "+f.path) {
		t.Fatalf("check's hint %q\n%s", hint, r.stdout)
	}
	if out, err := exec.Command("chown", "-R", u.deployer.Name, f.path).CombinedOutput(); err == nil || !strings.Contains(string(out), "Operation not permitted") {
		t.Errorf("premise: a plain chown -R of the immutable cache: %v %s", err, out)
	}
	if out, err := exec.Command("sh", "-c", hint).CombinedOutput(); err != nil {
		t.Fatalf("the hint %q: %v\n%s", hint, err, out)
	}
	if r := f.mustRun("production", "check"); !strings.Contains(r.stdout, "writable     ok") {
		t.Errorf("check after the hint:\n%s", r.stdout)
	}
	f.origin.commit()
	wantOut(t, f.mustRun("production"), "by links to a read-only cache entry")
	wantOut(t, f.mustRun("production", "exec", `node -e "console.log(require('ms')('1h'))"`), "3600000")
}

// TestCLIHookOutputWithoutNewline: through the CLI and a real sshd, a
// pre-deploy hook whose output ends without a newline deploys (it used to
// wait for a `prepared` line glued to the hook's text until interrupted),
// and its text is shown on a line of its own.
func TestCLIHookOutputWithoutNewline(t *testing.T) {
	f := newFixture(t)
	f.writeINI("pre-deploy printf 'built, no newline'")
	f.mustRun("production", "setup")
	r := f.mustRun("production")
	if !strings.Contains(r.stdout, "\nbuilt, no newline\n") || f.currentSHA() != f.origin.git("-C", f.origin.dir, "rev-parse", "HEAD") {
		t.Errorf("current %s; output:\n%s\n%s", f.currentSHA(), r.stdout, r.stderr)
	}
}

// TestHookLeavesAProcessHoldingItsOutput: a post-deploy hook leaves a
// process running that holds its output (`sleep 25 &`, as `node server.js
// &` would). As with ssh and the classic tool, the deploy waits for it; it
// now says why once the script has ended, and Ctrl-C (here the context
// ending) stops the wait at once and reports the deploy as the script
// ended it, where it used to say the server was still finishing the gate,
// wait on, and then report the outcome as unknown.
func TestHookLeavesAProcessHoldingItsOutput(t *testing.T) {
	f := newFixture(t)
	f.writeINI("post-deploy sleep 25 &")
	f.mustRun("production", "setup")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	r := f.run(ctx, "production")
	took := time.Since(start)
	if r.code != 0 || took > 15*time.Second {
		t.Fatalf("exit %d after %s, want 0 once the context ended (8 s)\n%s\n%s", r.code, took, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "note: the server's script has ended (exit 0), but a process a hook left running still holds its output") {
		t.Errorf("the output does not say why the deploy waits:\n%s", r.stdout)
	}
	if ev := f.events(); ev[len(ev)-1] != "deploy" || f.currentSHA() != f.origin.git("-C", f.origin.dir, "rev-parse", "HEAD") {
		t.Errorf("events %v, current %s", ev, f.currentSHA())
	}
}
