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

// prRef makes a commit that only ref points at (as GitHub's
// refs/pull/<n>/head points at a pull request's commit, on no branch of
// the origin) and returns its sha.
func (o *origin) prRef(ref string) string {
	o.t.Helper()
	o.git("checkout", "-q", "-b", "pr-tmp")
	sha := o.commit(nil)
	o.git("checkout", "-q", "main")
	o.git("update-ref", ref, sha)
	o.git("branch", "-q", "-D", "pr-tmp")
	return sha
}

// mirrorRefs lists the mirror's refs but those that keep releases'
// commits (refs/deploy/releases/*), one name per line, sorted.
func (s *server) mirrorRefs() string {
	s.t.Helper()
	var refs []string
	for _, r := range strings.Split(gitOut(s.t, filepath.Join(s.env.Path, "repo"), "for-each-ref", "--format=%(refname)"), "\n") {
		if !strings.HasPrefix(r, "refs/deploy/releases/") {
			refs = append(refs, r)
		}
	}
	return strings.Join(refs, "\n")
}

// hasObject reports whether the mirror has the object sha.
func (s *server) hasObject(sha string) bool {
	return exec.Command("git", "--git-dir="+filepath.Join(s.env.Path, "repo"), "cat-file", "-e", sha).Run() == nil
}

// TestMirrorFetchesBranchesAndTags: the server's mirror holds the origin's
// branches and tags, as the classic tool's clone does, and not the refs
// GitHub keeps for every pull request (refs/pull/<n>/head and /merge): a
// deploy neither lists nor fetches them. A pull request's commit ships
// when ref names its ref in full, fetched fresh by that deploy; a short
// name for it (pull/7/head) and a sha that only it holds are refused,
// saying so, and change nothing.
func TestMirrorFetchesBranchesAndTags(t *testing.T) {
	o := newOrigin(t)
	main1 := o.commit(nil)
	o.git("tag", "v1")
	pr7 := o.prRef("refs/pull/7/head")
	pr7merge := o.prRef("refs/pull/7/merge")
	pr8 := o.prRef("refs/pull/8/head")
	change := o.prRef("refs/changes/01/1/1")
	main2 := o.commit(nil)
	s := newServer(t, o)
	// a URL, as a real origin has: git clone copies a local path's whole
	// object store, commits that no ref holds included
	s.env.Repo = "file://" + o.dir
	s.setup()
	if r := s.deploy(); r.NewSHA != main2 {
		t.Fatalf("ref unset: deployed %s, want main %s", r.NewSHA, main2)
	}
	if got, want := s.mirrorRefs(), "refs/deploy-origin-head\nrefs/heads/main\nrefs/tags/v1"; got != want {
		t.Errorf("the mirror's refs after setup and a deploy:\n%s\nwant:\n%s", got, want)
	}
	for _, sha := range []string{pr7, pr7merge, pr8, change} {
		if s.hasObject(sha) {
			t.Errorf("the mirror fetched commit %s, which only a ref outside the branches and tags holds", sha)
		}
	}
	if !s.hasObject(main1) {
		t.Errorf("the mirror lacks main's first commit")
	}

	deploy := func(ref, want string) {
		t.Helper()
		s.env.Ref = ref
		if r := s.deploy(); r.NewSHA != want {
			t.Fatalf("ref %s: deployed %s, want %s\n%s", ref, r.NewSHA, want, s.out)
		}
	}
	deploy("refs/pull/7/head", pr7)
	// the pull request moves: the next deploy of its ref fetches it again
	o.git("update-ref", "refs/pull/7/head", pr8)
	deploy("refs/pull/7/head", pr8)
	deploy("v1", main1)

	refused := func(ref, want string) {
		t.Helper()
		s.env.Ref = ref
		rels := strings.Join(s.releases(), " ")
		n := len(s.log())
		s.out = &syncbuf.Buffer{}
		_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("ref %s: err = %v, want %q\n%s", ref, err, want, s.out)
		}
		if now := strings.Join(s.releases(), " "); now != rels {
			t.Errorf("ref %s changed the releases: %s, were %s", ref, now, rels)
		}
		if len(s.log()) != n {
			t.Errorf("ref %s was logged in .deploys: %+v", ref, s.log()[n:])
		}
	}
	// git's rev-parse would take pull/7/head for refs/pull/7/head, which
	// the mirror still holds from the deploy above
	refused("pull/7/head", "ref 'pull/7/head' is not a branch, tag or commit of "+s.env.Repo+" (a ref other than a branch or tag is given by its full name, refs/…)")
	refused(change[:12], "ref '"+change[:12]+"' is not a commit of any branch or tag of "+s.env.Repo)
	refused("refs/pull/99/head", "ref 'refs/pull/99/head' is not a ref of "+s.env.Repo)

	// deleted at the origin: pruned from the mirror (tags too)
	o.git("tag", "-d", "v1")
	o.git("update-ref", "-d", "refs/pull/7/head")
	deploy("main", main2)
	refused("refs/pull/7/head", "ref 'refs/pull/7/head' is not a ref of "+s.env.Repo)
	if got, want := s.mirrorRefs(), "refs/deploy-origin-head\nrefs/heads/main"; got != want {
		t.Errorf("the mirror's refs after the origin deleted v1 and refs/pull/7/head:\n%s\nwant:\n%s", got, want)
	}

	// deploy check agrees with deploy about which refs it takes
	for ref, want := range map[string]string{
		"main":              "ok main",
		"refs/pull/8/head":  "ok refs/pull/8/head",
		"pull/8/head":       "fail 'pull/8/head' is not a branch or tag of the origin: give another ref by its full name, refs/…",
		"refs/pull/99/head": "fail 'refs/pull/99/head' is not a branch or tag of the origin",
	} {
		o := s.opts()
		o.Ref = ref
		items, err := Check(ctxFor(t), s.conn, s.env, o)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, it := range items {
			if it.Name == "ref" {
				got = map[bool]string{true: "ok ", false: "fail "}[it.OK] + it.Detail
			}
		}
		if got != want {
			t.Errorf("check ref %s: %q, want %q", ref, got, want)
		}
	}
}

// TestMirrorOfAnOlderDeployNarrowedOnce: a mirror an older deploy made
// with git clone --mirror (every ref of the origin, and a record of its
// origin under the old name) is narrowed by the next deploy: its refspecs
// become the branches and tags, the refs outside them go (they would
// never be fetched again), and it says so; the deploy after that starts
// no git config, and only its release's update-ref.
func TestMirrorOfAnOlderDeployNarrowedOnce(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	o.git("tag", "v1")
	o.prRef("refs/pull/7/head")
	o.prRef("refs/pull/7/merge")
	main2 := o.commit(nil)
	s := newServer(t, o)
	s.setup()
	repo := filepath.Join(s.env.Path, "repo")
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	gitOut(t, s.env.Path, "clone", "-q", "--mirror", o.dir, repo)
	if err := os.WriteFile(filepath.Join(repo, "deploy-origin-refs"), []byte(o.dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := s.mirrorRefs(); !strings.Contains(got, "refs/pull/7/merge") {
		t.Fatalf("the old-style mirror lacks the pull request's refs:\n%s", got)
	}

	calls := filepath.Join(t.TempDir(), "calls")
	s.conn.Env = wrapGit(t, func(string) string {
		return `for a in "$@"; do case $a in config|update-ref|fetch) echo "$a" >>"` + calls + `";; esac; done`
	})
	gitCalls := func() string {
		t.Helper()
		b, err := os.ReadFile(calls)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		_ = os.Remove(calls)
		return strings.Join(strings.Fields(string(b)), " ")
	}

	if r := s.deploy(); r.NewSHA != main2 {
		t.Fatalf("deployed %s, want %s\n%s", r.NewSHA, main2, s.out)
	}
	if !strings.Contains(s.out.String(), "the mirror held 2 refs besides the origin's branches and tags") {
		t.Errorf("the deploy did not say that it removed the pull request's refs:\n%s", s.out)
	}
	if got, want := s.mirrorRefs(), "refs/deploy-origin-head\nrefs/heads/main\nrefs/tags/v1"; got != want {
		t.Errorf("the mirror's refs after the deploy:\n%s\nwant:\n%s", got, want)
	}
	if got, want := gitOut(t, repo, "config", "--get-all", "remote.origin.fetch"), "+refs/heads/*:refs/heads/*\n+refs/tags/*:refs/tags/*"; got != want {
		t.Errorf("the mirror's refspecs: %q, want %q", got, want)
	}
	if out, err := exec.Command("git", "--git-dir="+repo, "config", "remote.origin.mirror").Output(); err == nil {
		t.Errorf("the mirror is still configured as a --mirror: remote.origin.mirror=%s", out)
	}
	if _, err := os.Stat(filepath.Join(repo, "deploy-origin-refs")); !os.IsNotExist(err) {
		t.Errorf("the old record of the origin is still there: %v", err)
	}
	if got := gitCalls(); !strings.Contains(got, "update-ref") {
		t.Errorf("narrowing ran git %q, want an update-ref", got)
	}

	s.out = &syncbuf.Buffer{}
	main3 := o.commit(nil)
	if r := s.deploy(); r.NewSHA != main3 {
		t.Fatalf("next deploy: %s, want %s\n%s", r.NewSHA, main3, s.out)
	}
	// (the update-ref is keep_release's, for the new release)
	if got := gitCalls(); got != "fetch update-ref" {
		t.Errorf("the deploy after the narrowing ran git %q, want only a fetch and one update-ref", got)
	}
	if strings.Contains(s.out.String(), "the mirror held") {
		t.Errorf("the deploy after the narrowing narrowed again:\n%s", s.out)
	}
}

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

// TestReleaseGitSurvivesForcePushAndGC: a release's .git borrows the
// mirror's objects. When the origin's branch is force-pushed past a kept
// release's commit and the mirror is gc'd (git gc --auto does it once
// the unreachable objects are two weeks old; here at once), git in that
// release still works, and after a revert to it; the refs that keep the
// releases' commits follow the releases pruned.
func TestReleaseGitSurvivesForcePushAndGC(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	a := o.commit(nil)
	s := newServer(t, o)
	s.env.Keep = 3
	s.setup()
	ra := s.deploy().NewRelease
	o.git("reset", "-q", "--hard", "HEAD~1")
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
	if _, err := exec.LookPath("git-lfs"); err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") != "" {
			t.Fatalf("git-lfs is not installed (scripts/deps.sh installs it): %v", err)
		}
		t.Skip("git-lfs is not installed")
	}
	lfsConf := filepath.Join(t.TempDir(), "gitconfig")
	lfsEnv := []string{"GIT_CONFIG_GLOBAL=" + lfsConf}
	cmd := exec.Command("git", "lfs", "install", "--skip-repo")
	cmd.Env = append(os.Environ(), lfsEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git lfs install: %v\n%s", err, out)
	}
	o := newOrigin(t)
	content := strings.Repeat("binary content\n", 100)
	for _, args := range [][]string{{"lfs", "track", "*.bin"}} {
		cmd := exec.Command("git", append([]string{"-C", o.dir}, args...)...)
		cmd.Env = append(os.Environ(), lfsEnv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(o.dir, "asset.bin"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	commit := exec.Command("git", "-C", o.dir, "-c", "user.name=T", "-c", "user.email=t@example.com", "add", "-A")
	commit.Env = append(os.Environ(), lfsEnv...)
	if out, err := commit.CombinedOutput(); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}
	commit = exec.Command("git", "-C", o.dir, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "lfs")
	commit.Env = append(os.Environ(), lfsEnv...)
	if out, err := commit.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	asset := func(s *server) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(s.env.Path, "current", "asset.bin"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// set up: the content
	s := newServer(t, o)
	s.env.Repo = "file://" + o.dir
	s.conn.Env = lfsEnv
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
