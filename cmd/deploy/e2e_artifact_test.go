package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var sentFiles = regexp.MustCompile(`upload: sent (\d+) files \((\d+) bytes\), (\d+) unchanged`)

// uploaded returns the files and bytes a deploy's output says it sent,
// and the files the server reused.
func uploaded(t *testing.T, out string) (files, bytes, reused int) {
	t.Helper()
	m := sentFiles.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the deploy did not say what it uploaded:\n%s", out)
	}
	files, _ = strconv.Atoi(m[1])
	bytes, _ = strconv.Atoi(m[2])
	reused, _ = strconv.Atoi(m[3])
	return files, bytes, reused
}

// goAppCommit writes a Go program printing msg and 200 asset files (one
// of them holding asset) into the laptop's clone and commits them.
func (h *laptopHost) goAppCommit(msg, asset string) string {
	h.t.Helper()
	writeFile(h.t, filepath.Join(h.laptop, "go.mod"), "module example.com/app\n\ngo 1.21\n")
	writeFile(h.t, filepath.Join(h.laptop, "main.go"), fmt.Sprintf("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(%q) }\n", msg))
	dir := filepath.Join(h.laptop, "assets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	for i := range 200 {
		text := fmt.Sprintf("asset %d\n", i)
		if i == 17 {
			text = asset + "\n"
		}
		writeFile(h.t, filepath.Join(dir, fmt.Sprintf("a%03d.txt", i)), text)
	}
	h.origin.git("-C", h.laptop, "add", "-A", "go.mod", "main.go", "assets")
	h.origin.git("-C", h.laptop, "commit", "-q", "-m", msg+" "+asset)
	h.origin.git("-C", h.laptop, "push", "-q", "origin", "main")
	return h.origin.git("-C", h.laptop, "rev-parse", "HEAD")
}

// releaseFiles lists the current release's files, relative, sorted.
func (h *laptopHost) releaseFiles() []string {
	h.t.Helper()
	root := filepath.Join(h.path, "current") + "/"
	var files []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// TestBuildLocal: build local builds a Go binary on the laptop, in a
// clean export of the commit (an uncommitted change does not ship: the
// deploy refuses it, and with --force ships the commit alone), for a
// server that has no Go and cannot read the origin; the release holds the
// artifact and REVISION, nothing else. A redeploy after one asset out of
// 200 changed sends that one file, the server copying the rest from the
// current release. A failing build touches no host. Revert works as for
// any release.
func TestBuildLocal(t *testing.T) {
	goCache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	h := newLaptopHost(t, "build local",
		"build-command mkdir -p dist && CGO_ENABLED=0 go build -trimpath -o dist/app . && cp -r assets dist/")
	t.Setenv("GOCACHE", strings.TrimSpace(string(goCache))) // the laptop's build cache, not the fake HOME's
	h.mustRun("production", "setup")

	first := h.goAppCommit("app v1", "blue")
	dry := h.mustRun("production", "--dry-run")
	if !strings.Contains(dry.stdout, "in a clean checkout of "+first[:7]) || strings.Contains(dry.stdout, "build local: mkdir") {
		t.Errorf("the dry run should plan the local build of %s without running it:\n%s", first[:7], dry.stdout)
	}
	writeFile(t, filepath.Join(h.laptop, "main.go"), "package main\n\nfunc main() { println(\"uncommitted\") }\n")
	if r := h.run(ctxMinute(t), "production"); r.code != 1 || !strings.Contains(r.stderr, "uncommitted changes to 1 tracked file(s)") {
		t.Fatalf("a deploy with main.go changed and not committed: exit %d, want refused:\n%s", r.code, r.stderr)
	}
	r := h.mustRun("production", "--force")
	if files, _, reused := uploaded(t, r.stdout); files != 201 || reused != 0 {
		t.Errorf("the first upload sent %d files (%d reused), want 201 (app and 200 assets)\n%s", files, reused, r.stdout)
	}
	if got := h.currentSHA(); got != first {
		t.Fatalf("current runs %s, want %s", got, first)
	}
	want := []string{"REVISION", "app"}
	for i := range 200 {
		want = append(want, fmt.Sprintf("assets/a%03d.txt", i))
	}
	slices.Sort(want)
	if got := h.releaseFiles(); !slices.Equal(got, want) {
		t.Errorf("the release holds %d files, want only the artifact and REVISION (%d); first ones: %v", len(got), len(want), got[:min(5, len(got))])
	}
	if r := h.mustRun("production", "exec", "command -v go || echo no-go-here"); !strings.Contains(r.stdout, "no-go-here") {
		t.Fatalf("the server's deploy user has go, so the test proves nothing:\n%s", r.stdout)
	}
	if out := h.mustRun("production", "exec", "./app"); !strings.Contains(out.stdout, "app v1") {
		t.Errorf("the shipped binary says %q, want app v1 (the commit, not the uncommitted change)", out.stdout)
	}
	h.origin.git("-C", h.laptop, "checkout", "-q", "main.go")

	// one asset changes: one file goes; the binary (reproducible with
	// -trimpath) and 199 assets are copied on the server
	second := h.goAppCommit("app v1", "green")
	r = h.mustRun("production")
	files, bytes, reused := uploaded(t, r.stdout)
	if files != 1 || reused != 200 || bytes > 64<<10 {
		t.Errorf("one changed asset sent %d files (%d bytes, %d reused), want 1 file and 200 reused\n%s", files, bytes, reused, r.stdout)
	}
	if b, _ := os.ReadFile(filepath.Join(h.path, "current", "assets", "a017.txt")); string(b) != "green\n" || h.currentSHA() != second {
		t.Errorf("the release has a017.txt %q at %s, want green at %s", b, h.currentSHA(), second)
	}
	if b, _ := os.ReadFile(filepath.Join(h.path, "releases", h.previousRelease(), "assets", "a017.txt")); string(b) != "blue\n" {
		t.Errorf("the previous release's a017.txt became %q: releases must not share files", b)
	}

	// a failing build: no connection, nothing changes
	before := strings.Count(h.sshd.Logs(), "Accepted publickey")
	log := h.events()
	bad := filepath.Join(h.laptop, "bad.conf")
	text, _ := os.ReadFile(h.conf)
	writeFile(t, bad, strings.Replace(string(text), "build-command mkdir", "build-command echo compiling; exit 3; mkdir", 1))
	r = h.runArgs("-c", bad, "production")
	if r.code == 0 || !strings.Contains(r.stderr, "no host was touched") || !strings.Contains(r.stderr, "exit status 3") {
		t.Errorf("a failing build: exit %d, want an error naming the build and saying no host was touched\nstderr:\n%s", r.code, r.stderr)
	}
	if after := strings.Count(h.sshd.Logs(), "Accepted publickey"); after != before {
		t.Errorf("a failing local build still connected to the server (%d logins, was %d)", after, before)
	}
	if got := h.events(); !slices.Equal(got, log) || h.currentSHA() != second {
		t.Errorf("a failing local build changed the server: .deploys %v (was %v), current %s", got, log, h.currentSHA())
	}

	h.mustRun("production", "revert")
	if h.currentSHA() != first {
		t.Errorf("revert left current at %s, want %s", h.currentSHA(), first)
	}
	if entries, _ := os.ReadDir(filepath.Join(h.path, ".staging")); len(entries) != 0 {
		t.Errorf("staged uploads were left behind: %v", entries)
	}
}

// previousRelease is the release before current, by name.
func (h *laptopHost) previousRelease() string {
	h.t.Helper()
	rels := h.releases()
	cur := h.current()
	i := slices.Index(rels, cur)
	if i < 1 {
		h.t.Fatalf("no release before %s in %v", cur, rels)
	}
	return rels[i-1]
}

// TestFleetBuildLocal: across three hosts the artifact is built once on
// the laptop and uploaded to every host; each ends on the same release,
// made of the artifact alone.
func TestFleetBuildLocal(t *testing.T) {
	counter := filepath.Join(t.TempDir(), "builds")
	f, hosts := newFleetFixture(t, "build local", "build-command echo built >>"+counter+" && mkdir -p dist && cp VERSION dist/")
	laptop := filepath.Join(t.TempDir(), "laptop")
	f.origin.git("clone", "-q", f.origin.dir, laptop)
	text, err := os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	f.conf = filepath.Join(laptop, "deploy.conf")
	writeFile(t, f.conf, string(text))
	f.mustRun("production", "setup")
	sha := f.origin.git("-C", laptop, "rev-parse", "HEAD")
	out := f.mustRun("production").stdout
	if b, _ := os.ReadFile(counter); string(b) != "built\n" {
		t.Errorf("the build ran %d times for 3 hosts, want once", strings.Count(string(b), "built"))
	}
	if n := strings.Count(out, "upload: sent 1 files"); n != 3 {
		t.Errorf("%d hosts say they got the one-file artifact, want 3:\n%s", n, out)
	}
	first := releaseOn(t, hosts[0])
	for _, h := range hosts {
		dir := filepath.Join(h.Root, "app", "releases", releaseOn(t, h))
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		rev, _ := os.ReadFile(filepath.Join(dir, "REVISION"))
		if releaseOn(t, h) != first || strings.Join(names, " ") != "REVISION VERSION" || strings.TrimSpace(string(rev)) != sha {
			t.Errorf("host %s: release %s holds %v at %q, want %s with REVISION VERSION at %s", h.Addr(), releaseOn(t, h), names, rev, first, sha)
		}
	}
}
