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
)

// poetryProject is a Poetry project whose one dependency is tinypkg's
// wheel, vendored in the repo (poetry.lock pins its hash): what Poetry
// installs offline.
const poetryProject = `[tool.poetry]
name = "app"
version = "0.1.0"
description = ""
authors = ["Test <t@example.com>"]

[tool.poetry.dependencies]
python = "^3.9"
tinypkg = {path = "vendor/tinypkg-%[1]s-py3-none-any.whl"}

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
`

var poetryReused = regexp.MustCompile(`deps: \.venv reused from (\S+) \(poetry\.lock, runtime and platform unchanged\) by (.+) in ([0-9.]+) s`)

// lockPoetry writes pyproject.toml for tinypkg at version and runs
// `poetry lock` in the origin, as the app's developer would, then
// commits.
func lockPoetry(t *testing.T, f *fixture, version string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(f.origin.dir, "vendor"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeWheel(t, filepath.Join(f.origin.dir, "vendor"), "tinypkg", version, fmt.Sprintf(tinyPkg, map[string]int{"1.0": 42, "2.0": 43}[version]), "tinycli = tinypkg:main")
	writeFile(t, filepath.Join(f.origin.dir, "pyproject.toml"), fmt.Sprintf(poetryProject, version))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "poetry", "lock", "--no-interaction")
	cmd.Dir = f.origin.dir
	cmd.Env = append(os.Environ(), "POETRY_CACHE_DIR="+t.TempDir(), "POETRY_CONFIG_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("poetry lock: %v\n%s", err, out)
	}
	if lock := readText(t, filepath.Join(f.origin.dir, "poetry.lock")); !strings.Contains(lock, "tinypkg-"+version+"-py3-none-any.whl") {
		t.Fatalf("poetry.lock does not pin the vendored wheel:\n%s", lock)
	}
	f.origin.commit()
}

// TestE2EBuildAutoPoetry: a Poetry project (pyproject.toml + poetry.lock,
// no requirements.txt) gets `poetry install --only main --no-root` into
// the release's .venv, as Heroku's buildpack runs it; the venv is cached
// per poetry.lock and relocated into the next release (its python and the
// package's console script report the new release's prefix; the previous
// release's venv is untouched); a changed lock installs fresh.
func TestE2EBuildAutoPoetry(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "poetry")
	f := newFixture(t)
	lockPoetry(t, f, "1.0")
	f.writeINI("build auto", "keep 2")
	f.mustRun("production", "setup")

	r := f.mustRun("production")
	wantOut(t, r, "build: python detected (pyproject.toml + poetry.lock): poetry install --only main --no-root (into .venv)",
		"$ poetry install --only main --no-root", "deps: no cached install for this poetry.lock", ".venv cached as "+f.path+"/.cache/deps/python-")
	oldVenv := filepath.Join(f.releaseDir(), ".venv")
	if out := f.mustRun("production", "exec", ".venv/bin/tinycli"); out.stdout != "prefix "+oldVenv+" value 42\n" {
		t.Fatalf("tinycli in the first release: %q", out.stdout)
	}

	f.origin.commit()
	r = f.mustRun("production")
	m := poetryReused.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("the second deploy did not reuse the venv:\n%s", r.stdout)
	}
	newVenv := filepath.Join(f.releaseDir(), ".venv")
	for _, cmd := range []string{`.venv/bin/python -c 'import sys, tinypkg; print("prefix", sys.prefix, "value", tinypkg.VALUE)'`, ".venv/bin/tinycli"} {
		if out := f.mustRun("production", "exec", cmd); out.stdout != "prefix "+newVenv+" value 42\n" {
			t.Errorf("%s in the new release: %q, want prefix %s", cmd, out.stdout, newVenv)
		}
	}
	cmd := exec.Command(filepath.Join(oldVenv, "bin", "tinycli"))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.Output(); err != nil || string(out) != "prefix "+oldVenv+" value 42\n" {
		t.Errorf("the previous release's tinycli: %q, %v", out, err)
	}

	lockPoetry(t, f, "2.0")
	r = f.mustRun("production")
	wantOut(t, r, "deps: no cached install for this poetry.lock")
	if poetryReused.MatchString(r.stdout) {
		t.Errorf("a changed poetry.lock reused a venv:\n%s", r.stdout)
	}
	if out := f.mustRun("production", "exec", ".venv/bin/tinycli"); out.stdout != "prefix "+filepath.Join(f.releaseDir(), ".venv")+" value 43\n" {
		t.Errorf("tinycli after the lock changed: %q", out.stdout)
	}
}
