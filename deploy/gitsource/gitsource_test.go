package gitsource

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// world is a bare "origin" and clones of it, driven by the git CLI.
type world struct {
	t      *testing.T
	root   string
	origin string
	clock  time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("the git CLI is needed to build test repositories: %v", err)
	}
	w := &world{t: t, root: t.TempDir(), clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	w.origin = filepath.Join(w.root, "origin.git")
	w.git(w.root, "init", "-q", "--bare", "-b", "master", w.origin)
	return w
}

// git runs git in dir with a clean, fixed identity and config, each run a
// minute after the last so that commit order is certain.
func (w *world) git(dir string, args ...string) string {
	w.t.Helper()
	w.clock = w.clock.Add(time.Minute)
	date := w.clock.Format(time.RFC3339)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+w.root, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada",
		"GIT_COMMITTER_EMAIL=ada@example.com", "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// clone clones origin into root/name.
func (w *world) clone(name string) string {
	w.t.Helper()
	dir := filepath.Join(w.root, name)
	w.git(w.root, "clone", "-q", w.origin, dir)
	return dir
}

// commit commits a new file in dir and returns its sha.
func (w *world) commit(dir, subject string) string {
	w.t.Helper()
	name := strings.NewReplacer(" ", "_", ",", "").Replace(subject) + ".txt"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(subject+"\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.git(dir, "add", name)
	w.git(dir, "commit", "-q", "-m", subject+"\n\nbody of "+subject)
	return w.git(dir, "rev-parse", "HEAD")
}

func open(t *testing.T, dir string) *Repo {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func shas(cs []Commit) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.SHA)
	}
	return out
}

func TestOpen(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	work := w.clone("work")
	sub := filepath.Join(work, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	c1 := w.commit(work, "first")
	if got, err := open(t, sub).Resolve("refs/heads/master"); err != nil || got != c1 {
		t.Errorf("from a subdirectory: Resolve = %q, %v; want %s", got, err, c1)
	}
	plain := t.TempDir()
	_, err := Open(plain)
	if want := plain + " is not inside a git repository; run from the app's clone (or -C DIR)"; err == nil || err.Error() != want {
		t.Errorf("Open(not a repo) = %v, want %q", err, want)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	work := w.clone("work")
	c1 := w.commit(work, "first")
	w.git(work, "tag", "light")
	c2 := w.commit(work, "second")
	w.git(work, "tag", "-a", "-m", "release 1", "v1")
	w.git(work, "push", "-q", "-u", "origin", "master", "--tags")
	c3 := w.commit(work, "third, not pushed")
	r := open(t, work)

	_, err := r.Resolve("")
	if want := "no ref given and origin/HEAD is not set in " + work + "; run 'git remote set-head origin --auto' or set ref"; err == nil || err.Error() != want {
		t.Errorf("Resolve(\"\") before set-head = %v, want %q", err, want)
	}
	w.git(work, "remote", "set-head", "origin", "master")
	tests := []struct{ ref, want string }{
		{"", c2},
		{"master", c2}, // the origin's master, as the server sees it
		{"origin/master", c2},
		{"refs/remotes/origin/master", c2},
		{"refs/heads/master", c3},
		{"v1", c2}, // annotated tag peeled to its commit
		{"light", c1},
		{c1, c1},
		{c1[:7], c1},
		{strings.ToUpper(c3[:10]), c3},
	}
	for _, tt := range tests {
		if got, err := r.Resolve(tt.ref); err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %s", tt.ref, got, err, tt.want)
		}
	}
	for _, ref := range []string{"nope", "origin/nope", "abc", "0000000"} {
		_, err := r.Resolve(ref)
		want := fmt.Sprintf("ref %q is not a branch, tag or commit of %s; check the name or run 'git fetch'", ref, work)
		if err == nil || err.Error() != want {
			t.Errorf("Resolve(%q) error %v, want %q", ref, err, want)
		}
	}
}

func TestUnpushedAndMismatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	work := w.clone("work")
	w.commit(work, "first")
	c2 := w.commit(work, "second")
	w.git(work, "tag", "-a", "-m", "release 1", "v1")
	w.git(work, "push", "-q", "-u", "origin", "master", "--tags")
	w.git(work, "remote", "set-head", "origin", "master")
	c3 := w.commit(work, "third")
	c4 := w.commit(work, "fourth")
	r := open(t, work)

	for _, ref := range []string{"master", "origin/master", "", "refs/heads/master", c4} {
		got, err := r.Unpushed(ref)
		if err != nil || !reflect.DeepEqual(shas(got), []string{c4, c3}) {
			t.Errorf("Unpushed(%q) = %v, %v; want [fourth third]", ref, shas(got), err)
		}
	}
	if got, err := r.Unpushed("v1"); err != nil || len(got) != 0 {
		t.Errorf("Unpushed(v1) = %v, %v; want none (the tag's commit is pushed)", got, err)
	}
	want := &Mismatch{Branch: "master", Local: c4, Deploy: c2, Ahead: 2, Behind: 0}
	for _, ref := range []string{"master", "origin/master", ""} {
		if got, err := r.HeadMismatch(ref); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("HeadMismatch(%q) = %+v, %v; want %+v", ref, got, err, want)
		}
	}
	if got, _ := r.HeadMismatch("master"); got != nil && !strings.Contains(got.String(), "2 ahead, 0 behind") {
		t.Errorf("Mismatch.String() = %q", got.String())
	}
	for _, ref := range []string{"v1", c2} {
		if got, err := r.HeadMismatch(ref); err != nil || got != nil {
			t.Errorf("HeadMismatch(%q) = %+v, %v; want nil (no local branch)", ref, got, err)
		}
	}

	// Once pushed, nothing is unpushed and the ref is the local tip, even
	// with another branch checked out.
	w.git(work, "push", "-q")
	w.git(work, "checkout", "-q", "-b", "feature")
	c5 := w.commit(work, "feature work")
	r = open(t, work)
	if got, err := r.Unpushed("master"); err != nil || len(got) != 0 {
		t.Errorf("after push: Unpushed(master) = %v, %v; want none", shas(got), err)
	}
	if got, err := r.HeadMismatch("master"); err != nil || got != nil {
		t.Errorf("after push: HeadMismatch(master) = %+v, %v; want nil", got, err)
	}
	// A branch never pushed: all of its own commits are unpushed.
	if got, err := r.Unpushed("feature"); err != nil || !reflect.DeepEqual(shas(got), []string{c5}) {
		t.Errorf("Unpushed(feature) = %v, %v; want [%s]", shas(got), err, c5)
	}
	if got, err := r.Resolve("feature"); err != nil || got != c5 {
		t.Errorf("Resolve(feature) = %q, %v; want the local branch %s", got, err, c5)
	}

	// Someone else pushes: after a fetch the local master is behind.
	other := w.clone("other")
	c6 := w.commit(other, "from a colleague")
	w.git(other, "push", "-q")
	w.git(work, "fetch", "-q")
	r = open(t, work)
	want = &Mismatch{Branch: "master", Local: c4, Deploy: c6, Ahead: 0, Behind: 1}
	if got, err := r.HeadMismatch("master"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("behind: HeadMismatch(master) = %+v, %v; want %+v", got, err, want)
	}
	if got, err := r.Unpushed("master"); err != nil || len(got) != 0 {
		t.Errorf("behind: Unpushed(master) = %v, %v; want none", shas(got), err)
	}
}

// TestUnpushedUpstreamName follows a branch's configured upstream when it
// has another name on the remote.
func TestUnpushedUpstreamName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	work := w.clone("work")
	w.commit(work, "first")
	w.git(work, "push", "-q", "-u", "origin", "master")
	w.git(work, "checkout", "-q", "-b", "dev")
	d1 := w.commit(work, "dev one")
	w.git(work, "push", "-q", "-u", "origin", "dev:develop")
	d2 := w.commit(work, "dev two")
	r := open(t, work)
	if got, err := r.Unpushed("dev"); err != nil || !reflect.DeepEqual(shas(got), []string{d2}) {
		t.Errorf("Unpushed(dev) = %v, %v; want [%s]", shas(got), err, d2)
	}
	if got, err := r.Resolve("origin/develop"); err != nil || got != d1 {
		t.Errorf("Resolve(origin/develop) = %q, %v; want %s", got, err, d1)
	}
}

func TestLog(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	work := w.clone("work")
	c1 := w.commit(work, "first")
	c2 := w.commit(work, "second")
	w.git(work, "checkout", "-q", "-b", "side", c1)
	s1 := w.commit(work, "side work")
	w.git(work, "checkout", "-q", "master")
	c3 := w.commit(work, "third")
	w.git(work, "merge", "-q", "--no-ff", "-m", "merge side", "side")
	m := w.git(work, "rev-parse", "HEAD")
	w.git(work, "tag", "-a", "-m", "release 2", "v2")
	r := open(t, work)

	tests := []struct {
		from, to string
		max      int
		want     []string
	}{
		{c2, m, 0, []string{m, c3, s1}},
		{c2, "v2", 2, []string{m, c3}},
		{"", c2, 0, []string{c2, c1}},
		{m, c2, 0, nil},
		{c2, c2, 0, nil},
		{s1, m, 0, []string{m, c3, c2}},
	}
	for _, tt := range tests {
		got, err := r.Log(tt.from, tt.to, tt.max)
		if err != nil || !reflect.DeepEqual(shas(got), tt.want) {
			t.Errorf("Log(%.7s, %.7s, %d) = %v, %v; want %v", tt.from, tt.to, tt.max, shas(got), err, tt.want)
		}
	}
	got, err := r.Log(c1, c2, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("Log(c1, c2) = %v, %v", got, err)
	}
	want := Commit{SHA: c2, Short: c2[:7], Subject: "second", Author: "Ada"}
	when := got[0].When
	got[0].When = time.Time{}
	if got[0] != want || when.IsZero() || when.Year() != 2026 {
		t.Errorf("Log(c1, c2)[0] = %+v at %v; want %+v in 2026", got[0], when, want)
	}
	if _, err := r.Log("nope", c2, 0); err == nil || !strings.Contains(err.Error(), `ref "nope" is not a branch`) {
		t.Errorf("Log(nope, …) error = %v", err)
	}
}

// TestShallowClone walks a shallow clone's history without failing at its
// missing parents.
func TestShallowClone(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	work := w.clone("work")
	w.commit(work, "first")
	c2 := w.commit(work, "second")
	w.git(work, "push", "-q", "origin", "master")
	shallow := filepath.Join(w.root, "shallow")
	w.git(w.root, "clone", "-q", "--depth", "1", "file://"+w.origin, shallow)
	r := open(t, shallow)
	got, err := r.Log("", "master", 0)
	if err != nil || !reflect.DeepEqual(shas(got), []string{c2}) {
		t.Errorf("Log in a shallow clone = %v, %v; want [%s]", shas(got), err, c2)
	}
	if got, err := r.Unpushed("master"); err != nil || len(got) != 0 {
		t.Errorf("Unpushed in a shallow clone = %v, %v; want none", shas(got), err)
	}
}
