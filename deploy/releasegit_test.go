package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/syncbuf"
)

// keptRefs lists the releases that have a ref under refs/deploy/releases
// in the mirror, sorted.
func (s *server) keptRefs() []string {
	s.t.Helper()
	out := gitOut(s.t, filepath.Join(s.env.Path, "repo"), "for-each-ref", "--format=%(refname:lstrip=3)", "refs/deploy/releases")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// forcePushedOver deploys an origin's second commit a (release ra, keep
// releases kept) and then resets the origin's main to the commit before
// it, as a force-push past a deployed commit does: a is on no branch.
func forcePushedOver(t *testing.T, keep int) (o *origin, s *server, a, ra string) {
	t.Helper()
	o = newOrigin(t)
	o.commit(nil)
	a = o.commit(nil)
	s = newServer(t, o)
	s.env.Keep = keep
	s.setup()
	ra = s.deploy().NewRelease
	o.git("reset", "-q", "--hard", "HEAD~1")
	return o, s, a, ra
}

// TestReleaseGitSurvivesForcePushAndGC: a release's .git borrows the
// mirror's objects. When the origin's branch is force-pushed past a kept
// release's commit and the mirror is gc'd (git gc --auto does it once
// the unreachable objects are two weeks old; here at once), git in that
// release still works, and after a revert to it; the refs that keep the
// releases' commits follow the releases pruned.
func TestReleaseGitSurvivesForcePushAndGC(t *testing.T) {
	o, s, a, ra := forcePushedOver(t, 3)
	b := o.commit(nil)
	if r := s.deploy(); r.NewSHA != b {
		t.Fatalf("after the force-push: deployed %s, want %s", r.NewSHA, b)
	}
	repo := filepath.Join(s.env.Path, "repo")
	gitOut(t, repo, "reflog", "expire", "--expire=now", "--all")
	gitOut(t, repo, "gc", "--quiet", "--prune=now")
	rel := filepath.Join(s.env.Path, "releases", ra)
	if got := gitOut(t, rel, "log", "-1", "--format=%H"); got != a {
		t.Errorf("git log in the force-pushed-over release: %s, want %s", got, a)
	}
	s.revert(1)
	if s.current() != ra {
		t.Fatalf("revert 1: current is %s, want %s", s.current(), ra)
	}
	assertReleaseClean(t, s)

	for i := 0; i < 4; i++ {
		o.commit(nil)
		s.deploy()
		// the refs of the releases pruned by the deploy before go with
		// this one's update-ref: at most one more ref than releases
		kept, rels := s.keptRefs(), s.releases()
		for _, r := range rels {
			if !slices.Contains(kept, r) {
				t.Errorf("deploy %d: release %s has no ref in the mirror (refs: %v)", i, r, kept)
			}
		}
		if len(kept) > len(rels)+1 {
			t.Errorf("deploy %d: %d refs for %d releases: %v, releases %v", i, len(kept), len(rels), kept, rels)
		}
	}
}

// TestOlderReleasesGetTheirRefs: the releases that a deploy older than
// the kept-release refs made have none, so a force-push and a gc of the
// mirror would take their commits; the next deploy gives them theirs
// (keep_older), and says which release's commit the mirror had already
// lost. Their git then survives a force-push and a gc.
func TestOlderReleasesGetTheirRefs(t *testing.T) {
	o, s, a, ra := forcePushedOver(t, 5)
	o.commit(nil)
	rb := s.deploy().NewRelease
	c := o.commit(nil)
	rc := s.deploy().NewRelease
	// the mirror as an older deploy left it: no kept refs; a gc then
	// takes a's commit, which no branch holds since the force-push
	repo := filepath.Join(s.env.Path, "repo")
	for _, r := range s.keptRefs() {
		gitOut(t, repo, "update-ref", "-d", "refs/deploy/releases/"+r)
	}
	gitOut(t, repo, "reflog", "expire", "--expire=now", "--all")
	gitOut(t, repo, "gc", "--quiet", "--prune=now")
	// and the origin force-pushed past b and c
	o.git("reset", "-q", "--hard", "HEAD~2")
	o.commit(nil)
	s.out = &syncbuf.Buffer{}
	rd := s.deploy().NewRelease
	want := []string{rb, rc, rd}
	slices.Sort(want) // two may share a second: the ids then sort by sha
	if got := s.keptRefs(); !slices.Equal(got, want) {
		t.Errorf("kept refs after the deploy: %v, want %v (every release whose commit the mirror has)", got, want)
	}
	if want := "releases/" + ra + ": its commit " + a + " is no longer in " + repo; !strings.Contains(s.out.String(), want) {
		t.Errorf("the deploy did not say %q:\n%s", want, s.out)
	}
	// only the refs hold b and c now: git in c's release survives a gc
	gitOut(t, repo, "reflog", "expire", "--expire=now", "--all")
	gitOut(t, repo, "gc", "--quiet", "--prune=now")
	if got := gitOut(t, filepath.Join(s.env.Path, "releases", rc), "log", "-1", "--format=%H"); got != c {
		t.Errorf("git log in an older deploy's release after a force-push and gc: %s, want %s", got, c)
	}
}

// TestSubmodulesSaidAndShippable: a release's checkout leaves a
// submodule an empty directory (as the classic tool's git clone and
// Capistrano's git archive do); the deploy says so and how to ship them,
// and `git submodule update --init` in pre-deploy then works in the
// release, a relative submodule URL (../lib) included: the release's .git
// has the origin as remote.origin.url, as a clone's has.
func TestSubmodulesSaidAndShippable(t *testing.T) {
	lib := newOrigin(t)
	libDir := filepath.Join(filepath.Dir(filepath.Dir(lib.dir)), "lib")
	if err := os.Rename(lib.dir, libDir); err != nil {
		t.Fatal(err)
	}
	lib.dir = libDir
	lib.commit(map[string]string{"lib.txt": "from the submodule\n"})
	o := newOrigin(t)
	// the origin's parent holds lib too, so that ../lib resolves from it
	if err := os.Rename(libDir, filepath.Join(filepath.Dir(o.dir), "lib")); err != nil {
		t.Fatal(err)
	}
	o.commit(nil)
	o.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", "../lib", "vendor/lib")
	o.git("commit", "-q", "-m", "add lib")
	s := newServer(t, o)
	s.setup()
	s.deploy()
	cur := filepath.Join(s.env.Path, "current")
	if !strings.Contains(s.out.String(), "submodules: ") || !strings.Contains(s.out.String(), "git submodule update --init --recursive") {
		t.Errorf("the deploy did not say that the submodules are not checked out:\n%s", s.out)
	}
	if _, err := os.Stat(filepath.Join(cur, "vendor", "lib", "lib.txt")); !os.IsNotExist(err) {
		t.Fatalf("the submodule was checked out without a hook asking: %v", err)
	}

	// file:// submodules need protocol.file.allow (git 2.38.1); an https
	// or ssh one does not
	s.env.PreDeploy = "git -c protocol.file.allow=always submodule --quiet update --init --recursive"
	o.commit(nil)
	s.out = &syncbuf.Buffer{}
	s.deploy()
	b, err := os.ReadFile(filepath.Join(cur, "vendor", "lib", "lib.txt"))
	if err != nil || string(b) != "from the submodule\n" {
		t.Fatalf("the submodule after git submodule update in pre-deploy: %q, %v\n%s", b, err, s.out)
	}
	assertReleaseClean(t, s)
}

// TestGitLFSContentOrSaid: a repo whose .gitattributes sends files through
// Git LFS. With git-lfs set up for the deploy user (git lfs install), the
// release's checkout fetches their content from the origin, as a clone's
// does (the release's .git has the origin as remote.origin.url; without
// it the smudge filter failed the checkout: "missing protocol"). Without
// it, the release
// holds the pointer files, as a clone would, and the deploy says so.
func TestGitLFSContentOrSaid(t *testing.T) {
	o := lfsOrigin(t)
	content := strings.Repeat("binary content\n", 100)
	o.commit(map[string]string{"asset.bin": content})
	asset := func(s *server) string { return currentFile(t, s, "asset.bin") }

	// set up: the content
	s := newServer(t, o)
	s.env.Repo = "file://" + o.dir
	s.setup()
	s.deploy()
	if got := asset(s); got != content {
		t.Errorf("with git-lfs set up, the release's asset.bin is %q…, want its content", got[:min(len(got), 60)])
	}
	if strings.Contains(s.out.String(), "git lfs:") {
		t.Errorf("with git-lfs set up, the deploy warned:\n%s", s.out)
	}
	o.commit(nil)
	s.deploy()
	if got := asset(s); got != content {
		t.Errorf("second release: asset.bin is %q…, want its content", got[:min(len(got), 60)])
	}
	assertReleaseClean(t, s)

	// not set up (git-lfs not installed, or no git lfs install: Debian's
	// package sets it up in /etc/gitconfig): pointer files, said
	s2 := newServer(t, o)
	s2.env.Repo = "file://" + o.dir
	s2.conn.Env = []string{"GIT_CONFIG_GLOBAL=" + filepath.Join(t.TempDir(), "empty"), "GIT_CONFIG_NOSYSTEM=1"}
	s2.setup()
	s2.deploy()
	if got := asset(s2); !strings.HasPrefix(got, "version https://git-lfs.github.com/spec/v1") {
		t.Errorf("without git-lfs set up, asset.bin is %q…, want the pointer", got[:min(len(got), 60)])
	}
	if !strings.Contains(s2.out.String(), "git lfs: .gitattributes sends files through Git LFS, and git-lfs is not set up for the deploy user") {
		t.Errorf("without git-lfs set up, the deploy did not say so:\n%s", s2.out)
	}
}

// lfsOrigin is an origin whose *.bin files go through Git LFS, with
// git-lfs set up in a temp global config for the origin's commands and
// the servers (t.Setenv: not parallel).
func lfsOrigin(t *testing.T) *origin {
	t.Helper()
	if _, err := exec.LookPath("git-lfs"); err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") != "" {
			t.Fatalf("git-lfs is not installed (scripts/deps.sh installs it): %v", err)
		}
		t.Skip("git-lfs is not installed")
	}
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(t.TempDir(), "gitconfig"))
	o := newOrigin(t)
	o.git("lfs", "install", "--skip-repo")
	o.git("lfs", "track", "*.bin")
	return o
}

func currentFile(t *testing.T, s *server, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.env.Path, "current", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGitLFSObjectsLinkedFromTheLiveRelease: a deploy's checkout finds
// the LFS objects of the live release in its own .git/lfs, hard-linked,
// and downloads only what changed: with the origin unable to serve the
// objects it served before, the next deploy still ships the content, and
// the object is one file on disk for both releases. A changed file is
// downloaded; a revert finds the old content in place.
func TestGitLFSObjectsLinkedFromTheLiveRelease(t *testing.T) {
	o := lfsOrigin(t)
	first := strings.Repeat("first asset\n", 100)
	o.commit(map[string]string{"asset.bin": first})
	s := newServer(t, o)
	s.env.Repo = "file://" + o.dir
	s.setup()
	s.deploy()
	rel1 := s.current()

	// the origin loses the objects it served (as a host whose LFS
	// storage is gone, or is rate limiting): only a download needs them
	// (after the commit: git add's clean filter writes them again)
	o.commit(map[string]string{"app.txt": "a code change\n"})
	lfsDir := filepath.Join(o.dir, ".git", "lfs", "objects")
	if err := os.Rename(lfsDir, lfsDir+".away"); err != nil {
		t.Fatal(err)
	}
	s.deploy()
	if got := currentFile(t, s, "asset.bin"); got != first {
		t.Fatalf("asset.bin is %q…, want its content\n%s", got[:min(len(got), 60)], s.out)
	}
	assertReleaseClean(t, s)
	objects := func(rel string) map[string]os.FileInfo {
		got := map[string]os.FileInfo{}
		root := filepath.Join(s.env.Path, "releases", rel, ".git", "lfs", "objects")
		err := filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				got[fi.Name()] = fi
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	old, cur := objects(rel1), objects(s.current())
	if len(old) != 1 || len(cur) != 1 {
		t.Fatalf("LFS objects: %d in the first release, %d in the second; want 1 each", len(old), len(cur))
	}
	for oid, fi := range cur {
		if !os.SameFile(fi, old[oid]) {
			t.Errorf("object %s is not the first release's file (a copy or a download)", oid)
		}
	}

	// a changed LFS file is downloaded (the origin has its objects back)
	if err := os.Rename(lfsDir+".away", lfsDir); err != nil {
		t.Fatal(err)
	}
	second := strings.Repeat("second asset\n", 100)
	o.commit(map[string]string{"asset.bin": second})
	s.deploy()
	if got := currentFile(t, s, "asset.bin"); got != second {
		t.Errorf("after a change, asset.bin is %q…", got[:min(len(got), 60)])
	}
	if n := len(objects(s.current())); n != 2 {
		t.Errorf("the third release has %d LFS objects, want 2 (the live one's, linked, and the new)", n)
	}
	if strings.Contains(s.out.String(), "git lfs:") {
		t.Errorf("a deploy warned:\n%s", s.out)
	}
	s.revert(2)
	if got := currentFile(t, s, "asset.bin"); got != first || s.current() != rel1 {
		t.Errorf("after revert 2: current %s, asset.bin %q…", s.current(), got[:min(len(got), 60)])
	}
}
