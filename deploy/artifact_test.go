package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/gitsource"
)

// TestBuildLocal: build local runs the command in a clean export of the
// commit (not the working tree, unless Dirty), with the env key's
// variables (GOOS, GOARCH, … pass through) and REVISION; artifact items
// follow rsync's trailing-slash rule; a failing command or a missing item
// is an error that says no host was touched.
func TestBuildLocal(t *testing.T) {
	o := newOrigin(t)
	o.commit(map[string]string{"src/main.txt": "committed\n", "tool.sh": "#!/bin/sh\necho tool\n"})
	if err := os.Chmod(filepath.Join(o.dir, "tool.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	o.git("add", "tool.sh")
	o.git("commit", "-q", "-m", "exec bit")
	sha := o.git("rev-parse", "HEAD")
	if err := os.WriteFile(filepath.Join(o.dir, "src", "main.txt"), []byte("uncommitted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := gitsource.Open(o.dir)
	if err != nil {
		t.Fatal(err)
	}
	build := func(b LocalBuild) (*Artifact, error) {
		b.Repo, b.SHA, b.Ref = repo, sha, "main"
		a, err := BuildLocal(context.Background(), b)
		if a != nil {
			t.Cleanup(func() { a.Remove() })
		}
		return a, err
	}
	read := func(a *Artifact, p string) string {
		b, err := os.ReadFile(filepath.Join(a.Root, p))
		if err != nil {
			t.Fatalf("artifact %s: %v", p, err)
		}
		return string(b)
	}
	paths := func(a *Artifact) []string {
		var ps []string
		for _, f := range a.Files {
			ps = append(ps, f.Path)
		}
		return ps
	}

	cmd := `mkdir -p dist/sub bin && cp src/main.txt dist/sub/ && printf '%s %s %s' "$GOOS" "$GOARCH" "$REVISION" >dist/env && cp tool.sh bin/ && ./tool.sh >bin/out`
	a, err := build(LocalBuild{Command: cmd, Vars: map[string]string{"GOOS": "plan9", "GOARCH": "arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(a, "sub/main.txt"); got != "committed\n" {
		t.Errorf("the build saw %q: it must run in a clean export, not the working tree", got)
	}
	if got := read(a, "env"); got != "plan9 arm64 "+sha {
		t.Errorf("the build's GOOS GOARCH REVISION were %q", got)
	}
	if got := paths(a); !slices.Equal(got, []string{"env", "sub/main.txt"}) {
		t.Errorf("dist/ shipped %v, want its content at the top", got)
	}

	a, err = build(LocalBuild{Command: cmd, Items: []string{"bin/tool.sh", "dist/"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(a); !slices.Equal(got, []string{"bin/tool.sh", "env", "sub/main.txt"}) {
		t.Errorf("bin/tool.sh and dist/ shipped %v", got)
	}
	for _, f := range a.Files {
		if f.Path == "bin/tool.sh" && f.Mode != 0o755 {
			t.Errorf("the exported tool.sh has mode %o, want 755 as committed", f.Mode)
		}
	}

	a, err = build(LocalBuild{Command: "mkdir -p dist && cp src/main.txt dist/", Dirty: o.dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(a, "main.txt"); got != "uncommitted\n" {
		t.Errorf("Dirty built %q, want the working tree's uncommitted file", got)
	}
	if b, _ := os.ReadFile(filepath.Join(o.dir, "dist", "main.txt")); string(b) != "uncommitted\n" {
		t.Errorf("Dirty must leave the working tree's dist/ in place (copied, not moved)")
	}

	for _, tc := range []struct{ cmd, want string }{
		{"echo compiling; exit 7", "exit status 7"},
		{"true", "artifact dist/ is not there after the build"},
		{"mkdir -p dist && touch dist/$'a\\tb'", "has a tab"},
	} {
		_, err := build(LocalBuild{Command: tc.cmd})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "no host was touched") {
			t.Errorf("%q: error %v, want one with %q and 'no host was touched'", tc.cmd, err, tc.want)
		}
	}
}
