package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/script"
	"github.com/deploytool/deploy/internal/golden"
)

// snapshot is every name under dir with its type, link target or content
// hash, and mode: what "nothing changed on the server" is checked against.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		desc := fmt.Sprintf("%s %v %s", rel, info.Mode(), info.ModTime().UTC())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		lines = append(lines, desc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// localClone clones the origin as the laptop's copy of the app and moves
// the config into it, so the CLI finds the clone next to its config.
func (f *fixture) localClone(extra ...string) string {
	f.t.Helper()
	dir := filepath.Join(f.t.TempDir(), "laptop")
	f.origin.git("clone", "-q", f.origin.dir, dir)
	f.origin.git("-C", dir, "config", "user.name", "t")
	f.origin.git("-C", dir, "config", "user.email", "t@example.com")
	f.writeINI(extra...)
	conf := filepath.Join(dir, "deploy.conf")
	b, err := os.ReadFile(f.conf)
	if err != nil {
		f.t.Fatal(err)
	}
	writeFile(f.t, conf, string(b))
	f.conf = conf
	return dir
}

// normalize replaces what differs between runs (temp paths, ports, shas,
// release ids, the deployer) with fixed names, for the golden file.
func normalize(s string, f *fixture, shas []string) string {
	for i, sha := range shas {
		s = strings.ReplaceAll(s, sha, fmt.Sprintf("<sha%d>", i+1))
		s = strings.ReplaceAll(s, sha[:7], fmt.Sprintf("<sha%d>", i+1))
	}
	// the bootstrap names the server's copy of the script by its sha256
	s = strings.ReplaceAll(s, script.Hash(script.Script()), "<script-sha256>")
	s = strings.ReplaceAll(s, f.path, "/srv/app")
	s = strings.ReplaceAll(s, f.origin.dir, "/src/app.git")
	s = strings.ReplaceAll(s, strconv.Itoa(f.sshd.Port()), "PORT")
	s = regexp.MustCompile(`\d{8}T\d{6}Z-<sha(\d)>`).ReplaceAllString(s, "<release$1>")
	s = regexp.MustCompile(`who=[^' ]*`).ReplaceAllString(s, "who=alice@laptop")
	return s
}

// --dry-run prints the plan and the changelog (from the laptop's clone)
// and changes nothing on the server: every file, link, mode and time is
// as it was, even though the deploy would have shipped two commits.
func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	first := f.origin.git("-C", f.origin.dir, "rev-parse", "HEAD")
	clone := f.localClone("shared log/", "pre-deploy echo build", "restart-file tmp/restart.txt")
	f.mustRun("production", "setup")
	f.mustRun("production")
	second, third := f.origin.commit(), f.origin.commit()
	f.origin.git("-C", clone, "pull", "-q")
	before := snapshot(t, f.path)

	r := f.mustRun("production", "--dry-run")
	if after := snapshot(t, f.path); after != before {
		t.Fatalf("--dry-run changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if f.currentSHA() != first {
		t.Fatalf("--dry-run deployed")
	}
	got := normalize(r.stdout, f, []string{first, second, third})
	golden.Assert(t, "dryrun", got)

	// Without a local clone the changelog says why it is missing.
	f.writeINI()
	r = f.mustRun("production", "--dry-run")
	if !strings.Contains(r.stdout, "changelog: unavailable: no local clone at") {
		t.Errorf("dry run outside a clone:\n%s", r.stdout)
	}
	if after := snapshot(t, f.path); after != before {
		t.Fatal("the second --dry-run changed the server")
	}

	// A config kept in some other repository (an ops repo, say) is not the
	// app's clone: no changelog from it, and no refusal based on it.
	ops := filepath.Join(t.TempDir(), "ops")
	f.origin.git("init", "-q", ops)
	f.origin.git("-C", ops, "remote", "add", "origin", "git@example.com:acme/ops.git")
	b, _ := os.ReadFile(f.conf)
	f.conf = filepath.Join(ops, "deploy.conf")
	writeFile(t, f.conf, string(b))
	r = f.mustRun("production", "--dry-run")
	if !strings.Contains(r.stdout, "changelog: unavailable: the git repository at "+ops+" is not a clone of "+f.origin.dir) {
		t.Errorf("dry run from another repo:\n%s", r.stdout)
	}
}

// A deploy from a clone whose branch has unpushed commits is refused with
// a hint, and nothing happens on the server; --force ships (what the
// origin has) with a warning.
func TestLocalSafetyRefusesUnpushed(t *testing.T) {
	f := newFixture(t)
	clone := f.localClone()
	f.mustRun("production", "setup")
	f.mustRun("production")

	writeFile(t, filepath.Join(clone, "VERSION"), "local\n")
	f.origin.git("-C", clone, "commit", "-q", "-am", "not pushed yet")
	refusedThenForced(t, f, []string{"refusing to deploy", "1 local commit(s) not pushed", "hint: push your changes", "--force"}, "warning: ")
}

// refusedThenForced runs a deploy that the local checks must refuse: exit
// 1, stderr holding each of refusal, the server untouched. Then the same
// with --force, which must print warning and ship: .deploys then holds two
// deploys.
func refusedThenForced(t *testing.T, f *fixture, refusal []string, warning string) {
	t.Helper()
	before := snapshot(t, f.path)
	r := f.run(ctxMinute(t), "production")
	for _, want := range refusal {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("a deploy the local checks refuse: exit %d, want 1 and %q in:\n%s", r.code, want, r.stderr)
		}
	}
	if snapshot(t, f.path) != before {
		t.Fatal("a refused deploy touched the server")
	}
	r = f.mustRun("production", "--force")
	if !strings.Contains(r.stderr, warning) || !strings.Contains(r.stderr, "--force: deploying anyway") {
		t.Errorf("--force deploy did not warn %q:\n%s", warning, r.stderr)
	}
	if len(f.events()) != 2 {
		t.Errorf(".deploys events %v after --force, want two deploys", f.events())
	}
}

// A deploy from a clone with uncommitted changes to tracked files is
// refused, as the classic deploy script refuses it (its
// check_for_local_changes: `git diff --exit-code --quiet` and the same
// with --cached): they would not ship. Each state of the clone is judged
// by those two commands and by deploy --dry-run alike; untracked files
// and a file touched with the same content do not count. A real deploy
// is refused with the files named and the server untouched; --force
// ships what was committed, with a warning. The config file deploy reads
// is the one exception.
func TestLocalSafetyRefusesUncommitted(t *testing.T) {
	f := newFixture(t)
	clone := f.localClone()
	f.mustRun("production", "setup")
	f.mustRun("production")
	version := filepath.Join(clone, "VERSION")
	orig, err := os.ReadFile(version)
	if err != nil {
		t.Fatal(err)
	}
	classicRefuses := func() bool {
		for _, args := range [][]string{{"diff", "--exit-code", "--quiet"}, {"diff", "--exit-code", "--quiet", "--cached"}} {
			cmd := exec.Command("git", append([]string{"--no-pager"}, args...)...)
			cmd.Dir = clone
			if err := cmd.Run(); err != nil {
				return true
			}
		}
		return false
	}
	reset := func() { f.origin.git("-C", clone, "reset", "-q", "--hard") }
	states := []struct {
		name string
		make func()
	}{
		{"clean", func() {}},
		{"an untracked file", func() { writeFile(t, filepath.Join(clone, "notes.txt"), "mine\n") }},
		{"a modified tracked file", func() { writeFile(t, version, "edited\n") }},
		{"a staged change, the file written back", func() {
			writeFile(t, version, "staged\n")
			f.origin.git("-C", clone, "add", "VERSION")
			writeFile(t, version, string(orig))
		}},
		{"a file touched with the same content", func() {
			future := time.Now().Add(time.Hour)
			if err := os.Chtimes(version, future, future); err != nil {
				t.Fatal(err)
			}
		}},
		{"a deleted tracked file", func() {
			if err := os.Remove(version); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, st := range states {
		reset()
		st.make()
		want := classicRefuses()
		r := f.mustRun("production", "--dry-run")
		got := strings.Contains(r.stdout, "warning: uncommitted changes to")
		if got != want {
			t.Errorf("%s: deploy --dry-run warns of uncommitted changes: %v; the classic script refuses: %v\n%s", st.name, got, want, r.stdout)
		}
		if want && !strings.Contains(r.stdout, "VERSION") {
			t.Errorf("%s: the warning does not name VERSION:\n%s", st.name, r.stdout)
		}
	}

	reset()
	writeFile(t, version, "edited\n")
	refusedThenForced(t, f, []string{"refusing to deploy: uncommitted changes to 1 tracked file(s)",
		"which the deploy would not ship: VERSION", "hint: commit or stash your changes"}, "warning: uncommitted changes")

	// The one file not refused: the config deploy reads, whose edits take
	// effect from the disk, committed or not (the classic script refuses
	// an edited tracked deploy.conf too).
	reset()
	f.origin.git("-C", clone, "add", "deploy.conf")
	f.origin.git("-C", clone, "commit", "-q", "-m", "the config, tracked")
	conf, err := os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.conf, string(conf)+"# edited, not committed\n")
	if !classicRefuses() {
		t.Fatal("the classic check should see the edited deploy.conf")
	}
	if r := f.mustRun("production", "--dry-run"); strings.Contains(r.stdout, "uncommitted") {
		t.Errorf("an edit to the config deploy reads was refused:\n%s", r.stdout)
	}
}
