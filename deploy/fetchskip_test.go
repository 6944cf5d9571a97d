package deploy

import (
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
)

// TestKilledAfterFetchThenOriginMovesBack: a deploy killed right after its
// fetch moved the mirror never makes a later deploy ship what the mirror
// had (here: the origin force-moved back, which only a fetch with --prune
// and forced updates brings into the mirror).
func TestKilledAfterFetchThenOriginMovesBack(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.setup()
	s.deploy()
	mirror := filepath.Join(s.env.Path, "repo")
	b := o.commit(nil)
	s.deploy()

	// A git that kills the script right after a fetch succeeded: the
	// mirror moved, the script never got past the fetch.
	c := o.commit(nil)
	s.conn.Env = wrapGit(t, func(real string) string {
		return `for a in "$@"; do [ "$a" = fetch ] && { "` + real + `" "$@"; kill -KILL "$PPID"; exit 0; }; done`
	})
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

// TestOneOriginContactPerDeploy: a deploy's fetch is its one contact with
// the origin (one SSH handshake to a real one), ref set or not, whether
// the origin moved or not: no ls-remote. With ref unset the fetch brings
// the origin's HEAD, and the mirror's HEAD names the branch; when the
// origin changes its default branch, the deploy asks it once (ls-remote
// --symref), ships the new one and points the mirror's HEAD at it. A
// branch the origin lacks is refused after the fetch, with no release and
// no line in .deploys.
func TestOneOriginContactPerDeploy(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.setup()
	calls := filepath.Join(t.TempDir(), "calls")
	s.conn.Env = wrapGit(t, func(string) string {
		return `for a in "$@"; do case $a in fetch|ls-remote) echo "$a" >>"` + calls + `";; esac; done`
	})
	contacts := func(what, want string) {
		t.Helper()
		b, err := os.ReadFile(calls)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		_ = os.Remove(calls)
		if got := strings.Join(strings.Fields(string(b)), " "); got != want {
			t.Errorf("%s: the deploy ran git %q against the origin, want %q", what, got, want)
		}
	}
	deploy := func(what, want string) {
		t.Helper()
		if r := s.deploy(); r.NewSHA != want {
			t.Fatalf("%s: deployed %s, want %s\n%s", what, r.NewSHA, want, s.out)
		}
	}

	a := o.commit(nil)
	deploy("ref unset", a)
	contacts("ref unset", "fetch")
	deploy("ref unset, origin unchanged", a)
	contacts("ref unset, origin unchanged", "fetch")
	assertReleaseClean(t, s)
	b := o.commit(nil)
	deploy("ref unset, a new commit", b)
	contacts("ref unset, a new commit", "fetch")

	// the origin's default branch becomes trunk, one commit ahead
	o.git("checkout", "-q", "-b", "trunk")
	c := o.commit(nil)
	o.git("checkout", "-q", "main")
	o.git("symbolic-ref", "HEAD", "refs/heads/trunk")
	s.out = &syncbuf.Buffer{}
	deploy("the origin's default branch changed", c)
	contacts("the origin's default branch changed", "fetch ls-remote")
	if !strings.Contains(s.out.String(), "ref: trunk (the origin's default branch") ||
		!strings.Contains(s.out.String(), "the origin's default branch is trunk (the mirror's HEAD said main)") {
		t.Errorf("the origin's default branch changed: the output does not say so:\n%s", s.out)
	}
	deploy("the origin's default branch changed, next deploy", c)
	contacts("the origin's default branch changed, next deploy", "fetch")

	s.env.Ref = "main"
	d := o.commit(nil) // on trunk
	deploy("ref main", b)
	contacts("ref main", "fetch")
	s.env.Ref = "trunk"
	deploy("ref trunk", d)
	contacts("ref trunk", "fetch")

	// refused: the deploy fails saying want, after the contacts given,
	// and leaves the releases and .deploys as they were
	refused := func(what, want, wantContacts string) {
		t.Helper()
		rels := strings.Join(s.releases(), " ")
		deploys, err := os.ReadFile(filepath.Join(s.env.Path, ".deploys"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Deploy(ctxFor(t), s.conn, s.env, s.opts()); err == nil || !strings.Contains(err.Error()+s.out.String(), want) {
			t.Fatalf("%s: %v\n%s", what, err, s.out)
		}
		contacts(what, wantContacts)
		if now := strings.Join(s.releases(), " "); now != rels {
			t.Errorf("%s changed the releases: %s, were %s", what, now, rels)
		}
		if now, _ := os.ReadFile(filepath.Join(s.env.Path, ".deploys")); string(now) != string(deploys) {
			t.Errorf("%s changed .deploys:\n%s", what, now)
		}
	}
	s.env.Ref = "no-such-branch"
	refused("a missing branch", "ref 'no-such-branch' is not a branch, tag or commit of", "fetch")
	// ref unset again, after fetches that did not bring the origin's HEAD
	s.env.Ref = ""
	deploy("ref unset again", d)
	contacts("ref unset again", "fetch")

	// an origin whose HEAD names no branch it has (a bare repo's HEAD
	// left at master): refused with ref unset, and no fetch fails on it
	o.git("symbolic-ref", "HEAD", "refs/heads/nonexist")
	refused("ref unset, the origin's HEAD dangling", "cannot tell the origin's default branch: its HEAD names no branch", "fetch ls-remote")
	s.env.Ref = "main"
	deploy("ref main, the origin's HEAD dangling", b)
	contacts("ref main, the origin's HEAD dangling", "fetch")
}

// wrapGit puts a git first on the server's PATH that runs body (sh, given
// the real git's path) and then execs the real git with its arguments, and
// returns the environment (PATH=…) for the server's script.
func wrapGit(t *testing.T, body func(real string) string) []string {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	wrap := t.TempDir()
	script := "#!/bin/sh\n" + body(real) + "\nexec \"" + real + "\" \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrap, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + wrap + ":" + os.Getenv("PATH")}
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

func gitOut(t testing.TB, dir string, args ...string) string {
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

// TestMirrorOriginAndGC: a deploy that fetches checks the mirror's origin
// url with git only when the mirror's config changed since the last
// complete fetch (here: set by hand to a path that does not exist, which
// the deploy must put back to deploy.conf's repo and say so), and the
// fetch's own `git maintenance run --auto` is replaced by mirror_gc,
// which must still pack loose objects once git's limit is crossed (more
// than 27 in objects/17).
func TestMirrorOriginAndGC(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.setup()
	s.deploy()
	mirror := filepath.Join(s.env.Path, "repo")

	gitOut(t, mirror, "remote", "set-url", "origin", filepath.Join(t.TempDir(), "gone"))
	b := o.commit(nil)
	s.out = &syncbuf.Buffer{}
	if r := s.deploy(); r.NewSHA != b {
		t.Fatalf("deployed %s, want %s", r.NewSHA, b)
	}
	if !strings.Contains(s.out.String(), "repo changed: the mirror's origin was ") {
		t.Errorf("the mirror's origin was changed by hand, and the deploy did not say it set it back:\n%s", s.out)
	}
	if got := gitOut(t, mirror, "config", "--get", "remote.origin.url"); got != o.dir {
		t.Errorf("the mirror's origin is %q, want %q", got, o.dir)
	}

	// 28 new blobs named 17…: a fetch of fewer than 100 objects leaves
	// them loose, and git's gc --auto counts objects/17 against 6700/256
	files := map[string]string{}
	for i := 0; len(files) < 28; i++ {
		text := fmt.Sprintf("blob %d\n", i)
		h := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(text), text)))
		if h[0] == 0x17 {
			files[fmt.Sprintf("b/%d", i)] = text
		}
	}
	c := o.commit(files)
	if r := s.deploy(); r.NewSHA != c {
		t.Fatalf("deployed %s, want %s", r.NewSHA, c)
	}
	loose := func() int {
		ents, err := os.ReadDir(filepath.Join(mirror, "objects", "17"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return len(ents)
	}
	// gc --auto runs detached, as git's own does
	deadline := time.Now().Add(60 * time.Second)
	for loose() > 27 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := loose(); n > 27 {
		t.Errorf("%d loose objects in the mirror's objects/17 after the deploy: no gc --auto packed them", n)
	}
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(mirror, "gc.pid")); os.IsNotExist(err) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}
