package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/testusers"
)

// venvReused matches the script's line for a venv taken from the cache:
// the entry, the method and the seconds it took.
var venvReused = regexp.MustCompile(`deps: \.venv reused from (\S+) \(requirements\.txt, runtime and platform unchanged\) by (.+) in ([0-9.]+) s`)

// tinyPkg is tinypkg's code at a VALUE, with a console script's main that
// says which venv runs it.
const tinyPkg = "import sys\n\nVALUE = %d\n\n\ndef main():\n    print('prefix', sys.prefix, 'value', VALUE)\n"

// releaseDir is the release current points at, symlinks resolved (as a
// venv's paths are).
func (f *fixture) releaseDir() string {
	f.t.Helper()
	dir, err := filepath.EvalSymlinks(filepath.Join(f.path, "current"))
	if err != nil {
		f.t.Fatal(err)
	}
	return dir
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sitePackage is tinypkg's __init__.py in rel's venv.
func sitePackage(t *testing.T, rel string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(rel, ".venv", "lib", "python3*", "site-packages", "tinypkg", "__init__.py"))
	if len(m) != 1 {
		t.Fatalf("tinypkg in %s/.venv: %v", rel, m)
	}
	return m[0]
}

// deployPythonCached deploys an app whose requirements.txt pins tinypkg
// (from wheels the test makes, offline) four times with keep 2: cold
// (installs and caches the venv), warm (reuses it, relocated to the new
// release), with changed requirements (installs fresh), and warm again
// (prunes the first entry, which no kept release uses).
func deployPythonCached(t *testing.T, f *fixture, method string) {
	t.Helper()
	requireTool(t, "python3")
	wheels := testusers.SharedDir(t)
	for i, v := range []string{"1.0", "2.0"} {
		writeWheel(t, wheels, "tinypkg", v, fmt.Sprintf(tinyPkg, 42+i), "tinycli = tinypkg:main")
	}
	f.origin.commitFiles(map[string]string{"requirements.txt": "tinypkg==1.0\n"})
	f.writeINI("build auto", "keep 2", "env PIP_NO_INDEX=1", "env PIP_FIND_LINKS="+wheels)
	f.mustRun("production", "setup")

	r := f.mustRun("production")
	wantOut(t, r, "deps: no cached install for this requirements.txt, runtime and platform (python-",
		".venv cached as "+f.path+"/.cache/deps/python-", "by "+method)
	oldRel := f.releaseDir()
	oldScript := readText(t, filepath.Join(oldRel, ".venv", "bin", "tinycli"))
	oldInit := readText(t, sitePackage(t, oldRel))

	// Warm: the same requirements reuse the entry, in well under a second.
	f.origin.commit()
	r = f.mustRun("production")
	m := venvReused.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("the second deploy did not reuse the venv:\n%s", r.stdout)
	}
	if !strings.HasPrefix(m[2], method) {
		t.Errorf("reused by %q, want %q", m[2], method)
	}
	// How long the reuse takes is the benchmarks' business (make bench,
	// BenchmarkBuildCache), not a test's: a bound of 2 s here failed a
	// loaded CI run at 2.28 s. The test proves it was reused, above.
	t.Logf("venv reused in %s s by %s", m[3], method)
	newRel := f.releaseDir()
	if newRel == oldRel {
		t.Fatalf("current is still %s", oldRel)
	}
	newVenv, oldVenv := filepath.Join(newRel, ".venv"), filepath.Join(oldRel, ".venv")

	// The new release's venv works from its own path: its python, the
	// wheel's console script, and activate.
	for _, cmd := range []string{`.venv/bin/python -c 'import sys, tinypkg; print("prefix", sys.prefix, "value", tinypkg.VALUE)'`, ".venv/bin/tinycli"} {
		if out := f.mustRun("production", "exec", cmd); !strings.Contains(out.stdout, "prefix "+newVenv+" value 42\n") {
			t.Errorf("%s in the new release: %q, want prefix %s", cmd, out.stdout, newVenv)
		}
	}
	act := f.mustRun("production", "exec", `. .venv/bin/activate && echo "venv=$VIRTUAL_ENV" && command -v tinycli`)
	wantOut(t, act, "venv="+newVenv+"\n", newVenv+"/bin/tinycli\n")
	files, _ := filepath.Glob(filepath.Join(newVenv, "bin", "*"))
	for _, p := range append(files, filepath.Join(newVenv, "pyvenv.cfg")) {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && strings.Contains(readText(t, p), oldRel) {
			t.Errorf("%s still names the previous release %s", p, oldRel)
		}
	}

	// The previous release's venv is untouched and still its own, and a
	// write into the new release's package (refused with read-only hard
	// links, the release's own copy otherwise) does not reach it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rel, _ := filepath.Rel(newRel, sitePackage(t, newRel))
	f.run(ctx, "production", "exec", "echo 'VALUE = 666' >> "+rel)
	if got := readText(t, filepath.Join(oldVenv, "bin", "tinycli")); got != oldScript {
		t.Errorf("the previous release's bin/tinycli changed:\n%s\nwas:\n%s", got, oldScript)
	}
	if got := readText(t, sitePackage(t, oldRel)); got != oldInit {
		t.Errorf("a write into the new release's tinypkg reached the previous release's:\n%s", got)
	}
	cmd := exec.Command(filepath.Join(oldVenv, "bin", "tinycli"))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.Output(); err != nil || string(out) != "prefix "+oldVenv+" value 42\n" {
		t.Errorf("the previous release's tinycli: %q, %v", out, err)
	}

	// Changed requirements install fresh.
	f.origin.commitFiles(map[string]string{"requirements.txt": "tinypkg==2.0\n"})
	r = f.mustRun("production")
	wantOut(t, r, "deps: no cached install for this requirements.txt", ".venv cached as "+f.path+"/.cache/deps/python-")
	if venvReused.MatchString(r.stdout) {
		t.Errorf("changed requirements reused a venv:\n%s", r.stdout)
	}
	thirdVenv := filepath.Join(f.releaseDir(), ".venv")
	if out := f.mustRun("production", "exec", ".venv/bin/tinycli"); out.stdout != "prefix "+thirdVenv+" value 43\n" {
		t.Errorf("tinycli after the change: %q", out.stdout)
	}

	// keep 2: once no kept release uses tinypkg 1.0's entry, it goes.
	f.origin.commit()
	r = f.mustRun("production")
	if m2 := venvReused.FindStringSubmatch(r.stdout); m2 == nil || m2[1] == m[1] {
		t.Errorf("the fourth deploy did not reuse tinypkg 2.0's venv:\n%s", r.stdout)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the entry %s no kept release uses is still there: %v", m[1], err)
	}
}

// TestE2EBuildAutoPythonCacheCopyAsRoot: a root deploy caches the venv
// per requirements and takes it by a plain copy, relocated to each
// release.
func TestE2EBuildAutoPythonCacheCopyAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the copy method is chosen for a root deploy user")
	}
	deployPythonCached(t, newFixture(t), "a plain copy")
}

// TestE2EBuildAutoPythonCacheHardLinks: a non-root deploy user on a
// filesystem without reflinks takes the cached venv as hard links to
// read-only files; the files that hold the venv's path are the release's
// own.
func TestE2EBuildAutoPythonCacheHardLinks(t *testing.T) {
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	deployPythonCached(t, u.f, "hard links to read-only files")
}
