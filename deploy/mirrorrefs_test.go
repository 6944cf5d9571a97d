package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
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

// olderMirror replaces the server's mirror with one as a deploy before
// 1adf3a5 left it: a git clone --mirror of o (every ref) and its record
// of the origin under the old name. It returns the mirror's path.
func (s *server) olderMirror(o *origin) string {
	s.t.Helper()
	repo := filepath.Join(s.env.Path, "repo")
	if err := os.RemoveAll(repo); err != nil {
		s.t.Fatal(err)
	}
	gitOut(s.t, s.env.Path, "clone", "-q", "--mirror", o.dir, repo)
	if err := os.WriteFile(filepath.Join(repo, "deploy-origin-refs"), []byte(o.dir+"\n"), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return repo
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
	repo := s.olderMirror(o)
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

// TestNarrowingKilledMidway: the script is SIGKILLed while it narrows a
// mirror an older deploy made (its refspecs already rewritten, the refs
// outside branches and tags not yet removed: git's update-ref is where it
// dies). Nothing else changed: current, the releases and .deploys are as
// they were, and the lock is free. The next deploy finishes the narrowing
// and ships.
func TestNarrowingKilledMidway(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	o.prRef("refs/pull/7/head")
	s := newServer(t, o)
	s.setup()
	first := s.deploy().NewRelease
	repo := s.olderMirror(o)
	deploys, err := os.ReadFile(filepath.Join(s.env.Path, ".deploys"))
	if err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(t.TempDir(), "killed")
	s.conn.Env = wrapGit(t, func(string) string {
		return `case " $* " in *" update-ref "*) [ -e "` + mark + `" ] || { : >"` + mark + `"; kill -KILL "$PPID"; exit 1; };; esac`
	})
	next := o.commit(nil)
	if _, err := Deploy(ctxFor(t), s.conn, s.env, s.opts()); err == nil {
		t.Fatalf("the deploy killed while it narrowed the mirror succeeded:\n%s", s.out)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("the script was not killed at update-ref: %v\n%s", err, s.out)
	}
	if got, want := gitOut(t, repo, "config", "--get-all", "remote.origin.fetch"), "+refs/heads/*:refs/heads/*\n+refs/tags/*:refs/tags/*"; got != want {
		t.Fatalf("killed at update-ref: the refspecs are %q, want them rewritten already", got)
	}
	if !strings.Contains(s.mirrorRefs(), "refs/pull/7/head") {
		t.Fatalf("killed at update-ref: the pull request's ref is gone already")
	}
	if s.current() != first {
		t.Errorf("current is %s, want %s", s.current(), first)
	}
	if got := strings.Join(s.releases(), " "); got != first {
		t.Errorf("releases: %s, want %s", got, first)
	}
	if now, _ := os.ReadFile(filepath.Join(s.env.Path, ".deploys")); string(now) != string(deploys) {
		t.Errorf(".deploys changed:\n%s", now)
	}
	if st, err := Status(ctxFor(t), s.conn, s.env, s.opts()); err != nil || st.Lock != "free" {
		t.Errorf("the lock after the kill: %+v, %v; want free", st, err)
	}

	s.out = &syncbuf.Buffer{}
	if r := s.deploy(); r.NewSHA != next {
		t.Fatalf("the next deploy shipped %s, want %s\n%s", r.NewSHA, next, s.out)
	}
	if !strings.Contains(s.out.String(), "the mirror held 1 refs besides the origin's branches and tags") {
		t.Errorf("the next deploy did not finish the narrowing:\n%s", s.out)
	}
	if strings.Contains(s.mirrorRefs(), "refs/pull/") {
		t.Errorf("the pull request's ref is still in the mirror:\n%s", s.mirrorRefs())
	}
}

// TestRelativeRepoFromHome: a repo given as a relative local path (or
// ~/…) is the one under the login user's home, where the classic tool's
// `git clone $repo` ran: the mirror's origin, deploy check and a
// release's remote.origin.url all name that absolute path, and a second
// deploy fetches from it (it used to resolve against <path> for the
// fetch and against the release for git in hooks).
func TestRelativeRepoFromHome(t *testing.T) {
	home := t.TempDir()
	o := newOrigin(t)
	if err := os.Rename(o.dir, filepath.Join(home, "origin")); err != nil {
		t.Fatal(err)
	}
	o.dir = filepath.Join(home, "origin")
	o.commit(nil)
	for _, repo := range []string{"origin", "~/origin"} {
		s := newServer(t, o)
		s.env.Repo = repo
		s.conn.Env = []string{"HOME=" + home}
		s.setup()
		s.deploy()
		next := o.commit(nil)
		if r := s.deploy(); r.NewSHA != next {
			t.Fatalf("repo %s: the second deploy shipped %s, want %s\n%s", repo, r.NewSHA, next, s.out)
		}
		if got := gitOut(t, filepath.Join(s.env.Path, "repo"), "config", "remote.origin.url"); got != o.dir {
			t.Errorf("repo %s: the mirror's origin is %q, want %q", repo, got, o.dir)
		}
		if got := gitOut(t, filepath.Join(s.env.Path, "current"), "config", "remote.origin.url"); got != o.dir {
			t.Errorf("repo %s: the release's remote.origin.url is %q, want %q", repo, got, o.dir)
		}
		items, err := Check(ctxFor(t), s.conn, s.env, s.opts())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if (it.Name == "repo" || it.Name == "ref") && !it.OK {
				t.Errorf("repo %s: check %s failed: %s", repo, it.Name, it.Detail)
			}
		}
	}
}
