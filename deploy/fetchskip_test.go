package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFetchSkippedWhenOriginUnchanged: a deploy whose origin has not moved
// since the mirror's last fetch asks the origin once (ls-remote, before
// the lock) and does not fetch; one whose origin moved fetches; and a
// deploy killed after its fetch moved the mirror, before that fetch was
// recorded, never lets a later deploy skip the fetch it needs (here: the
// origin force-moved back, which only a fetch with --prune and forced
// updates brings into the mirror).
func TestFetchSkippedWhenOriginUnchanged(t *testing.T) {
	o := newOrigin(t)
	a := o.commit(nil)
	s := newServer(t, o)
	s.setup()
	s.deploy()

	mirror := filepath.Join(s.env.Path, "repo")
	fetchHead := filepath.Join(mirror, "FETCH_HEAD")
	fetched := func() bool {
		t.Helper()
		_, err := os.Stat(fetchHead)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		_ = os.Remove(fetchHead)
		return err == nil
	}
	fetched() // git fetch writes FETCH_HEAD on every run, even one that brings nothing

	if r := s.deploy(); r.NewSHA != a {
		t.Fatalf("unchanged origin: deployed %s, want %s", r.NewSHA, a)
	}
	if fetched() {
		t.Error("the origin did not change since the last fetch, but the deploy fetched again")
	}
	assertReleaseClean(t, s)

	b := o.commit(nil)
	if r := s.deploy(); r.NewSHA != b {
		t.Fatalf("after a new commit: deployed %s, want %s", r.NewSHA, b)
	}
	if !fetched() {
		t.Error("the origin has a new commit, but the deploy did not fetch")
	}

	// A git that kills the script right after a fetch succeeded: the
	// mirror moved, the script never got to record it.
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	wrap := t.TempDir()
	script := "#!/bin/sh\n" + `for a in "$@"; do [ "$a" = fetch ] && { "` + real + `" "$@"; kill -KILL "$PPID"; exit 0; }; done
exec "` + real + `" "$@"
`
	if err := os.WriteFile(filepath.Join(wrap, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := o.commit(nil)
	s.conn.Env = []string{"PATH=" + wrap + ":" + os.Getenv("PATH")}
	if _, err := Deploy(ctxFor(t), s.conn, s.env, s.opts()); err == nil {
		t.Fatal("the deploy whose script was killed after its fetch succeeded")
	}
	s.conn.Env = nil
	if got := gitOut(t, mirror, "rev-parse", "refs/heads/main"); got != c {
		t.Fatalf("premise: the killed deploy's fetch should have moved the mirror's main to %s, it is %s", c, got)
	}
	o.git("reset", "-q", "--hard", b) // the origin's main goes back to b
	if r := s.deploy(); r.NewSHA != b {
		t.Fatalf("the origin's main was moved back to %s, the deploy shipped %s (a skipped fetch trusted a record older than the mirror)", b, r.NewSHA)
	}
}

// assertReleaseClean checks that git in the current release sees its
// commit's files unchanged: the index the checkout wrote matches the files
// (plumbing that does not refresh, as a hook's `git diff-index` would).
func assertReleaseClean(t *testing.T, s *server) {
	t.Helper()
	cur := filepath.Join(s.env.Path, "current")
	if out, err := exec.Command("git", "-C", cur, "diff-index", "--quiet", "HEAD", "--").CombinedOutput(); err != nil {
		t.Errorf("git diff-index in the release: %v %s (the checkout's index does not match its files)", err, out)
	}
	if got := gitOut(t, cur, "status", "--porcelain", "--untracked-files=no"); got != "" {
		t.Errorf("git status in the release: %q, want clean", got)
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestCurrentReadAsReadlinkDoes: the script finds the current release
// with builtins where it can, and must name it as readlink does: a link
// made by hand with an absolute path, a link into releases/ through a
// symlinked release, and a dangling link.
func TestCurrentReadAsReadlinkDoes(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.setup()
	first := s.deploy().NewRelease
	o.commit(nil)
	s.deploy()
	rels := filepath.Join(s.env.Path, "releases")
	cur := filepath.Join(s.env.Path, "current")
	relink := func(target string) {
		t.Helper()
		if err := os.Remove(cur); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, cur); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, want string
		link       func()
	}{
		{"absolute link", first, func() { relink(filepath.Join(rels, first)) }},
		{"symlinked release", "alias", func() {
			if err := os.Symlink(first, filepath.Join(rels, "alias")); err != nil {
				t.Fatal(err)
			}
			relink("releases/alias")
		}},
		{"dangling link", "gone", func() {
			_ = os.Remove(filepath.Join(rels, "alias"))
			relink("releases/gone")
		}},
	} {
		tc.link()
		o.commit(nil)
		if got := s.deploy().OldRelease; got != tc.want {
			t.Errorf("%s: the deploy saw current as %q, readlink says %q", tc.name, got, tc.want)
		}
	}
}
