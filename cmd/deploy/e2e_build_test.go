package main

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
)

// msApp is a small Node app with one real dependency from the npm
// registry (ms 2.1.3, no dependencies of its own) and a build script that
// uses it.
var msApp = map[string]string{
	"package.json": `{
  "name": "build-test",
  "version": "1.0.0",
  "private": true,
  "dependencies": { "ms": "2.1.3" },
  "scripts": { "build": "node -e \"require('fs').writeFileSync('built.txt', require('ms')('2h') + '\\n')\"" }
}
`,
	"package-lock.json": `{
  "name": "build-test",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": { "name": "build-test", "version": "1.0.0", "dependencies": { "ms": "2.1.3" } },
    "node_modules/ms": {
      "version": "2.1.3",
      "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz",
      "integrity": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
      "license": "MIT"
    }
  }
}
`,
}

// requireTool fails (make test) or skips a test whose tool is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s is not installed: run scripts/deps.sh test", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

func (o *originRepo) commitFiles(files map[string]string) string {
	o.t.Helper()
	for name, text := range files {
		writeFile(o.t, filepath.Join(o.dir, name), text)
	}
	return o.commit()
}

// wantOut fails the test unless the deploy's output holds every line part.
func wantOut(t *testing.T, r cliResult, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.stdout, p) {
			t.Errorf("output lacks %q:\n%s", p, r.stdout)
		}
	}
}

// deployNodeTwice deploys msApp (cold), then a commit that leaves the
// lockfile alone (warm), and returns both releases' directories.
func deployNodeTwice(t *testing.T, f *fixture, method string, ini ...string) (oldRel, newRel string) {
	t.Helper()
	f.origin.commitFiles(msApp)
	f.writeINI(append([]string{"build auto"}, ini...)...)
	f.mustRun("production", "setup")
	r := f.mustRun("production")
	wantOut(t, r, "build: node detected (package.json + package-lock.json + scripts.build): npm ci --no-audit --no-fund, then npm run build",
		"deps: no cached install for this package-lock.json", "node_modules cached as "+f.path+"/.cache/deps/node-", "by "+method)
	oldRel = filepath.Join(f.path, "releases", f.current())
	if b, err := os.ReadFile(filepath.Join(f.path, "current", "built.txt")); err != nil || string(b) != "7200000\n" {
		t.Fatalf("the build script's output: %q, %v", b, err)
	}
	f.origin.commit()
	r = f.mustRun("production")
	wantOut(t, r, "node_modules reused from "+f.path+"/.cache/deps/node-", "(package-lock.json, runtime and platform unchanged) by "+method)
	newRel = filepath.Join(f.path, "releases", f.current())
	if newRel == oldRel || f.currentSHA() != f.origin.git("-C", f.origin.dir, "rev-parse", "HEAD") {
		t.Fatalf("current is %s at %s after the warm deploy", newRel, f.currentSHA())
	}
	if ev := f.events(); strings.Join(ev, " ") != "deploy deploy" {
		t.Errorf(".deploys events %v", ev)
	}
	for _, rel := range []string{oldRel, newRel} {
		pkg, err := os.ReadFile(filepath.Join(rel, "node_modules", "ms", "package.json"))
		if err != nil || !strings.Contains(string(pkg), `"version": "2.1.3"`) {
			t.Errorf("%s: ms 2.1.3 is not installed: %v", rel, err)
		}
		if b, err := os.ReadFile(filepath.Join(rel, "built.txt")); err != nil || string(b) != "7200000\n" {
			t.Errorf("%s: the build script's output: %q, %v", rel, b, err)
		}
	}
	return oldRel, newRel
}

// TestE2EBuildAutoNodeWholeLink: a non-root deploy user's app with no
// build step and no install script of its own gets node_modules as one
// relative link to the read-only cache entry's: both releases require ms
// from the one entry, nothing can be written anywhere in node_modules
// (a cache directory neither: the whole of it is read-only, as on AWS
// Lambda), and the old release is untouched.
func TestE2EBuildAutoNodeWholeLink(t *testing.T) {
	requireTool(t, "npm")
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	app := map[string]string{
		"package.json": strings.Replace(msApp["package.json"], `,
  "scripts": { "build": "node -e \"require('fs').writeFileSync('built.txt', require('ms')('2h') + '\\n')\"" }`, "", 1),
		"package-lock.json": msApp["package-lock.json"],
	}
	if strings.Contains(app["package.json"], "scripts") {
		t.Fatalf("premise: the app without its build script:\n%s", app["package.json"])
	}
	f.origin.commitFiles(app)
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	wantOut(t, f.mustRun("production"), "node_modules cached as "+f.path+"/.cache/deps/node-",
		"by one link to a read-only cache entry (no build step to write into it)")
	oldRel := filepath.Join(f.path, "releases", f.current())
	f.origin.commit()
	wantOut(t, f.mustRun("production"), "node_modules reused from "+f.path+"/.cache/deps/node-",
		"by one link to a read-only cache entry (no build step to write into it)")
	newRel := filepath.Join(f.path, "releases", f.current())
	for _, rel := range []string{oldRel, newRel} {
		target, err := os.Readlink(filepath.Join(rel, "node_modules"))
		if err != nil || !strings.HasPrefix(target, "../../.cache/deps/node-") || !strings.HasSuffix(target, "/link/node_modules") {
			t.Errorf("%s/node_modules links to %q (%v), want ../../.cache/deps/node-<key>/link/node_modules", rel, target, err)
		}
	}
	oldMs, err1 := filepath.EvalSymlinks(filepath.Join(oldRel, "node_modules", "ms"))
	newMs, err2 := filepath.EvalSymlinks(filepath.Join(newRel, "node_modules", "ms"))
	if err1 != nil || err2 != nil || oldMs != newMs || !strings.HasPrefix(newMs, filepath.Join(f.path, ".cache", "deps")) {
		t.Errorf("ms resolves to %s (%v) and %s (%v): want one directory in the cache", oldMs, err1, newMs, err2)
	}
	wantOut(t, f.mustRun("production", "exec", `node -e "console.log(require('ms')('1h'))"`), "3600000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	index := filepath.Join("node_modules", "ms", "index.js")
	before, _ := os.ReadFile(filepath.Join(oldRel, index))
	for _, cmd := range []string{"echo hacked >> " + index, "echo added > node_modules/ms/extra.js", "mkdir node_modules/.cache"} {
		if r := f.run(ctx, "production", "exec", cmd); r.code == 0 {
			t.Errorf("%q in the new release succeeded", cmd)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(oldRel, index)); string(after) != string(before) || len(before) == 0 {
		t.Errorf("the old release's ms/index.js changed")
	}
}

// TestE2EBuildAutoNodeLinks: a non-root deploy user on a filesystem
// without reflinks gets node_modules as its own directory of relative
// links into a read-only cache entry (the install is moved there, not
// copied): the app and its build require through them, nothing can be
// written into or added to a package, a directory the app adds
// (node_modules/.cache) is the release's own, a release costs one
// directory of links, and with keep 2 an entry no kept release links to
// is removed, read-only directories and all.
func TestE2EBuildAutoNodeLinks(t *testing.T) {
	requireTool(t, "npm")
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	oldRel, newRel := deployNodeTwice(t, f, "links to a read-only cache entry", "keep 2")
	nm := filepath.Join(newRel, "node_modules")
	if fi, err := os.Lstat(nm); err != nil || !fi.IsDir() {
		t.Fatalf("node_modules is not the release's own directory: %v, %v", fi, err)
	}
	entries, err := os.ReadDir(nm)
	if err != nil || len(entries) < 3 { // ms, npm's .package-lock.json, .deploy-cache
		t.Fatalf("node_modules holds %v, %v", entries, err)
	}
	// node_modules/.deploy-cache links to the entry, and each package
	// through it (links that short take no block of their own).
	target, err := os.Readlink(filepath.Join(nm, ".deploy-cache"))
	if err != nil || !strings.HasPrefix(target, "../../../.cache/deps/node-") || !strings.HasSuffix(target, "/link/node_modules") {
		t.Fatalf("node_modules/.deploy-cache links to %q (%v), want ../../../.cache/deps/node-<key>/link/node_modules", target, err)
	}
	entry := filepath.Dir(filepath.Dir(filepath.Join(nm, target)))
	for _, e := range entries {
		if e.Name() == ".deploy-cache" {
			continue
		}
		target, err := os.Readlink(filepath.Join(nm, e.Name()))
		if err != nil || target != ".deploy-cache/"+e.Name() {
			t.Errorf("node_modules/%s links to %q (%v), want .deploy-cache/%[1]s", e.Name(), target, err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(nm, "ms"), &st); err != nil || st.Blocks != 0 {
		t.Errorf("node_modules/ms's link takes %d blocks (%v), want none", st.Blocks, err)
	}
	oldMs, err1 := filepath.EvalSymlinks(filepath.Join(oldRel, "node_modules", "ms"))
	newMs, err2 := filepath.EvalSymlinks(filepath.Join(nm, "ms"))
	if err1 != nil || err2 != nil || oldMs != newMs || !strings.HasPrefix(newMs, filepath.Join(f.path, ".cache", "deps")) {
		t.Errorf("ms resolves to %s (%v) and %s (%v): want one directory in the cache", oldMs, err1, newMs, err2)
	}
	for _, p := range []string{newMs, filepath.Join(newMs, "index.js")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o222 != 0 {
			t.Errorf("%s: %v, %v: want read-only", p, fi, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// As the deploy user, in the new release (current).
	r := f.mustRun("production", "exec", `node -e "console.log(require('ms')('1h'))"`)
	wantOut(t, r, "3600000")
	index := filepath.Join("node_modules", "ms", "index.js")
	before, _ := os.ReadFile(filepath.Join(oldRel, index))
	for _, cmd := range []string{"echo hacked >> " + index, "echo added > node_modules/ms/extra.js", "rm -f " + index} {
		if r := f.run(ctx, "production", "exec", cmd); r.code == 0 {
			t.Errorf("%q in the new release succeeded", cmd)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(oldRel, index)); string(after) != string(before) || len(before) == 0 {
		t.Errorf("the old release's ms/index.js changed")
	}
	f.mustRun("production", "exec", "mkdir -p node_modules/.cache && echo c > node_modules/.cache/x")
	if _, err := os.Lstat(filepath.Join(oldRel, "node_modules", ".cache")); err == nil {
		t.Errorf("node_modules/.cache made in the new release appeared in the old one")
	}
	if fi, err := os.Lstat(filepath.Join(nm, ".cache")); err != nil || !fi.IsDir() {
		t.Errorf("node_modules/.cache is not the new release's own directory: %v, %v", fi, err)
	}
	// A changed lockfile makes a new entry; once neither kept release
	// links to the first, it goes.
	deployNewLockfiles(t, f, 2)
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Errorf("the first entry %s is still there with no kept release linking to it: %v", entry, err)
	}
	r = f.mustRun("production", "exec", `node -e "console.log(require('ms')('2h'))"`)
	wantOut(t, r, "7200000")
}

// deployNewLockfiles deploys msApp n times, each with its version (and
// so its lockfile's hash) changed: each deploy installs afresh.
func deployNewLockfiles(t *testing.T, f *fixture, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		v := fmt.Sprintf(`"version": "1.0.%d"`, i)
		f.origin.commitFiles(map[string]string{
			"package.json":      strings.Replace(msApp["package.json"], `"version": "1.0.0"`, v, 1),
			"package-lock.json": strings.Replace(msApp["package-lock.json"], `"version": "1.0.0"`, v, 2),
		})
		wantOut(t, f.mustRun("production"), "deps: no cached install for this package-lock.json")
	}
}

// TestE2EBuildAutoNodeHardLinks: with DEPLOY_CACHE_METHOD=hardlink, a
// non-root deploy user on a filesystem without reflinks gets node_modules
// from the cache as hard links to read-only files: the warm deploy reuses
// them, and neither writing into a package's file nor adding one in the
// new release changes the old one.
func TestE2EBuildAutoNodeHardLinks(t *testing.T) {
	requireTool(t, "npm")
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	oldRel, newRel := deployNodeTwice(t, f, "hard links to read-only files", "env DEPLOY_CACHE_METHOD=hardlink")
	index := filepath.Join("node_modules", "ms", "index.js")
	before, _ := os.ReadFile(filepath.Join(oldRel, index))
	var oldSt, newSt syscall.Stat_t
	if syscall.Stat(filepath.Join(oldRel, index), &oldSt) != nil || syscall.Stat(filepath.Join(newRel, index), &newSt) != nil {
		t.Fatal("cannot stat ms/index.js in both releases")
	}
	if oldSt.Ino != newSt.Ino || newSt.Mode&0o222 != 0 {
		t.Errorf("ms/index.js: inodes %d/%d, mode %o: want one read-only file", oldSt.Ino, newSt.Ino, newSt.Mode)
	}
	// As the deploy user, in the new release (current): a write into the
	// shared file is refused, a new file stays in the new release.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := f.run(ctx, "production", "exec", "echo hacked >> "+index)
	if r.code == 0 {
		t.Errorf("writing into %s in the new release succeeded", index)
	}
	f.mustRun("production", "exec", "echo added > node_modules/ms/extra.js && mkdir -p node_modules/.cache && echo c > node_modules/.cache/x")
	if after, _ := os.ReadFile(filepath.Join(oldRel, index)); string(after) != string(before) || len(before) == 0 {
		t.Errorf("the old release's ms/index.js changed")
	}
	for _, p := range []string{"node_modules/ms/extra.js", "node_modules/.cache/x"} {
		if _, err := os.Stat(filepath.Join(oldRel, p)); err == nil {
			t.Errorf("%s written in the new release appeared in the old one", p)
		}
		if _, err := os.Stat(filepath.Join(newRel, p)); err != nil {
			t.Errorf("%s is not in the new release: %v", p, err)
		}
	}
}

// TestE2EBuildAutoNodeImmutableAsRoot: a deploy running as root, whom
// read-only bits do not stop, gets node_modules as links into a cache
// entry made immutable (chattr +i, as the non-root deploy user's is made
// read-only): root's writes into a package, or a new file in one, are
// refused (EPERM), a directory the app adds (node_modules/.cache) is the
// release's own, the old release is untouched, and with keep 2 an entry
// no kept release links to is removed, immutable files and all.
func TestE2EBuildAutoNodeImmutableAsRoot(t *testing.T) {
	requireTool(t, "npm")
	if os.Geteuid() != 0 {
		t.Skip("the immutable cache is for a root deploy user (make test runs as root)")
	}
	f := newFixture(t)
	oldRel, newRel := deployNodeTwice(t, f, "links to an immutable cache entry (chattr +i: root cannot write into it either)", "keep 2")
	nm := filepath.Join(newRel, "node_modules")
	target, err := os.Readlink(filepath.Join(nm, ".deploy-cache"))
	if err != nil || !strings.HasPrefix(target, "../../../.cache/deps/node-") {
		t.Fatalf("node_modules/.deploy-cache links to %q (%v), want ../../../.cache/deps/node-<key>/link/node_modules", target, err)
	}
	entry := filepath.Dir(filepath.Dir(filepath.Join(nm, target)))
	msDir, err := filepath.EvalSymlinks(filepath.Join(nm, "ms"))
	if err != nil || !strings.HasPrefix(msDir, entry+"/") {
		t.Fatalf("ms resolves to %s (%v), want a directory in %s", msDir, err, entry)
	}
	for _, p := range []string{msDir, filepath.Join(msDir, "index.js")} {
		out, err := exec.Command("lsattr", "-d", p).CombinedOutput()
		if flags, _, _ := strings.Cut(string(out), " "); err != nil || !strings.Contains(flags, "i") {
			t.Errorf("lsattr -d %s: %q, %v: want the immutable attribute", p, out, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	index := filepath.Join("node_modules", "ms", "index.js")
	before, _ := os.ReadFile(filepath.Join(oldRel, index))
	for _, cmd := range []string{"echo hacked >> " + index, "echo added > node_modules/ms/extra.js", "rm -f " + index} {
		r := f.run(ctx, "production", "exec", cmd)
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "Operation not permitted") {
			t.Errorf("%q as root in the new release: exit %d, want Operation not permitted\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(oldRel, index)); string(after) != string(before) || len(before) == 0 {
		t.Errorf("the old release's ms/index.js changed")
	}
	f.mustRun("production", "exec", "mkdir -p node_modules/.cache && echo c > node_modules/.cache/x")
	if _, err := os.Lstat(filepath.Join(oldRel, "node_modules", ".cache")); err == nil {
		t.Errorf("node_modules/.cache made in the new release appeared in the old one")
	}
	wantOut(t, f.mustRun("production", "exec", `node -e "console.log(require('ms')('1h'))"`), "3600000")
	deployNewLockfiles(t, f, 2)
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Errorf("the first entry %s is still there with no kept release linking to it: %v", entry, err)
	}
}

// TestE2EBuildAutoHalfMadeImmutableEntryIsPruned: a deploy killed while
// it put an install into the cache (the server rebooted, the OOM killer)
// leaves a .tmp-<key>-<pid> entry; as root its files are already
// immutable (cache_put makes them so before the rename). The next
// deploy's prune removes it, attribute and all, and leaves the entry in
// use alone. The leftover is made here as cache_put makes it, from a copy
// of a real entry: the window between chattr and the rename is too short
// to kill a real deploy in.
func TestE2EBuildAutoHalfMadeImmutableEntryIsPruned(t *testing.T) {
	requireTool(t, "npm")
	if os.Geteuid() != 0 {
		t.Skip("the cache is made immutable for a root deploy (make test runs as root)")
	}
	f := newFixture(t)
	f.origin.commitFiles(msApp)
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	wantOut(t, f.mustRun("production"), "by links to an immutable cache entry")
	entries, _ := filepath.Glob(filepath.Join(f.path, ".cache", "deps", "node-*"))
	if len(entries) != 1 {
		t.Fatalf("cache entries after the first deploy: %v", entries)
	}
	entry := entries[0]
	half := filepath.Join(filepath.Dir(entry), ".tmp-"+filepath.Base(entry)+"-4242")
	for _, c := range [][]string{
		{"cp", "-a", entry, half},
		{"sh", "-c", `find "$1/link" \( -type f -o -type d \) -exec chattr +i -- {} +`, "sh", half},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	if err := os.RemoveAll(half); err == nil {
		t.Fatalf("premise: the half-made entry's files are not immutable")
	}
	f.origin.commit()
	r := f.mustRun("production")
	wantOut(t, r, "node_modules reused from "+entry)
	if _, err := os.Lstat(half); !os.IsNotExist(err) {
		t.Errorf("the half-made entry %s is still there after a deploy's prune: %v\n%s", half, err, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "could not be removed") {
		t.Errorf("the prune warned:\n%s%s", r.stdout, r.stderr)
	}
	wantOut(t, f.mustRun("production", "exec", `node -e "console.log(require('ms')('1h'))"`), "3600000")
}

// TestE2EBuildAutoPatchPackage: an app whose build runs patch-package
// (real, from the npm registry) writes into an installed package after
// the install. The cache's links would refuse that (root's immutable
// entry here, a non-root user's read-only one alike), and patch-package
// then says "Failed to apply patch" and exits 0: the release went live
// unpatched. Now such an app's node_modules is copied from the cache,
// cold and warm: each release's ms is patched, the cache entry is not.
func TestE2EBuildAutoPatchPackage(t *testing.T) {
	requireTool(t, "npm")
	f := newFixture(t)
	commitPatchPackageApp(t, f)
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	for i, want := range []string{"node_modules cached as", "node_modules reused from"} {
		if i == 1 {
			f.origin.commit()
		}
		wantPatched(t, f, i+1, f.mustRun("production"), want)
	}
	wantOut(t, f.mustRun("production", "exec", `node -e "console.log(require('ms')('1h'))"`), "3600000")
	entries, _ := filepath.Glob(filepath.Join(f.path, ".cache", "deps", "node-*", "tree", "ms", "index.js"))
	if len(entries) != 1 {
		t.Fatalf("cache entries' ms/index.js: %v, want one", entries)
	}
	if b, err := os.ReadFile(entries[0]); err != nil || strings.HasPrefix(string(b), patchedMs) {
		t.Errorf("%s: %.40q, %v: want ms as installed", entries[0], b, err)
	}
}

// TestE2EBuildAutoPatchPackageAfterHardLinks: a non-root deploy user's
// entry made with hard links to read-only files (an earlier deploy with
// DEPLOY_CACHE_METHOD=hardlink, which warns that patch-package's writes
// will be refused) is copied into the next release writable, so that
// patch-package patches it.
func TestE2EBuildAutoPatchPackageAfterHardLinks(t *testing.T) {
	requireTool(t, "npm")
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	commitPatchPackageApp(t, f)
	f.writeINI("build auto", "env DEPLOY_CACHE_METHOD=hardlink")
	f.mustRun("production", "setup")
	wantOut(t, f.mustRun("production"), "warning: package.json uses patch-package, which writes into installed packages after the install (and exits 0 when it cannot), and DEPLOY_CACHE_METHOD=hardlink makes its files read-only: its writes will be refused",
		"by hard links to read-only files")
	f.writeINI("build auto")
	f.origin.commit()
	wantPatched(t, f, 2, f.mustRun("production"), "node_modules reused from")
}

// patchedMs starts ms's index.js as the patch in commitPatchPackageApp
// makes it.
const patchedMs = "// patched by patch-package\n"

// wantPatched checks that deploy n copied node_modules for patch-package
// and that current's ms is patched.
func wantPatched(t *testing.T, f *fixture, n int, r cliResult, want string) {
	t.Helper()
	wantOut(t, r, "deps: package.json uses patch-package, which writes into installed packages after the install (and exits 0 when it cannot): node_modules is copied from the cache, not linked to its read-only files",
		want, "by a plain copy (the build writes into it) in", "ms@2.1.3")
	if strings.Contains(r.stdout, "Failed to apply patch") {
		t.Errorf("deploy %d: patch-package failed:\n%s", n, r.stdout)
	}
	if b, err := os.ReadFile(filepath.Join(f.path, "current", "node_modules", "ms", "index.js")); err != nil || !strings.HasPrefix(string(b), patchedMs) {
		t.Errorf("deploy %d: current's ms/index.js is not patched: %.40q, %v", n, b, err)
	}
}

// commitPatchPackageApp commits an app that depends on ms and
// patch-package (from the npm registry, its lockfile made by npm) and
// patches ms in its build script, as patch-package's README shows.
func commitPatchPackageApp(t *testing.T, f *fixture) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(f.origin.dir, "patches"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.origin.commitFiles(map[string]string{
		"package.json": `{ "name": "patched", "version": "1.0.0", "private": true,
  "dependencies": { "ms": "2.1.3", "patch-package": "8.0.0" },
  "scripts": { "build": "patch-package" } }
`,
		"patches/ms+2.1.3.patch": `diff --git a/node_modules/ms/index.js b/node_modules/ms/index.js
index ea734fb..159c0a7 100644
--- a/node_modules/ms/index.js
+++ b/node_modules/ms/index.js
@@ -1,3 +1,4 @@
+// patched by patch-package
 /**
  * Helpers.
  */
`,
	})
	lock := exec.Command("npm", "install", "--package-lock-only", "--no-audit", "--no-fund")
	lock.Dir, lock.Env = f.origin.dir, append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := lock.CombinedOutput(); err != nil {
		t.Fatalf("npm install --package-lock-only: %v\n%s", err, out)
	}
	f.origin.commit()
}

// TestE2EBuildWritingIntoNodeModulesSaysWhy: a build step that writes
// into an installed package (a code generator writing into its own
// package, as prisma generate does) fails against the cache's links, as
// root too (the entry is immutable); the failure names the cache and the
// remedy, and nothing switches.
func TestE2EBuildWritingIntoNodeModulesSaysWhy(t *testing.T) {
	requireTool(t, "npm")
	if os.Geteuid() != 0 {
		t.Skip("the immutable cache is a root deploy's (make test runs as root)")
	}
	f := newFixture(t)
	app := map[string]string{
		"package.json":      strings.Replace(msApp["package.json"], `require('fs').writeFileSync('built.txt'`, `require('fs').writeFileSync('node_modules/ms/generated.js'`, 1),
		"package-lock.json": msApp["package-lock.json"],
	}
	if app["package.json"] == msApp["package.json"] {
		t.Fatal("premise: the build script writes into node_modules/ms")
	}
	f.origin.commitFiles(app)
	f.writeINI("build auto")
	f.mustRun("production", "setup")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.run(ctx, "production")
	note := "build: node: 'npm run build' exited with status 1: current is unchanged (node_modules came from the dependency cache by links to an immutable cache entry (chattr +i: root cannot write into it either), where nothing can be written into an installed package: if the build writes into node_modules, as patch-package and prisma generate do, set env DEPLOY_CACHE_METHOD=copy)"
	if r.code == 0 || !strings.Contains(r.stderr, note) || !strings.Contains(r.stdout+r.stderr, "EPERM") {
		t.Fatalf("a build writing into the linked cache: exit %d, want EPERM and the note %q\n%s\n%s", r.code, note, r.stdout, r.stderr)
	}
	if f.current() != "" {
		t.Errorf("current is %s after the failed build", f.current())
	}
	f.writeINI("build auto", "env DEPLOY_CACHE_METHOD=copy")
	wantOut(t, f.mustRun("production"), "by a plain copy (DEPLOY_CACHE_METHOD=copy) in")
	if _, err := os.Stat(filepath.Join(f.path, "current", "node_modules", "ms", "generated.js")); err != nil {
		t.Errorf("with DEPLOY_CACHE_METHOD=copy the build's file is not in the release: %v", err)
	}
}

// TestE2EBuildAutoNodeCopyAsRootWithoutImmutable: a root deploy whose
// sessions lack CAP_LINUX_IMMUTABLE (a container's default capabilities)
// cannot make the cache immutable, so it gets a plain copy and says why:
// root's write into the new release's node_modules leaves the old
// release's file alone.
func TestE2EBuildAutoNodeCopyAsRootWithoutImmutable(t *testing.T) {
	requireTool(t, "npm")
	if os.Geteuid() != 0 {
		t.Skip("the copy method is chosen for a root deploy user")
	}
	f := newFixtureWith(t, sshtest.Options{DropCapabilities: []string{"linux_immutable"}})
	oldRel, newRel := deployNodeTwice(t, f, "a plain copy (no reflinks on this filesystem; the deploy runs as root, which read-only files would not stop, and the cache cannot be made immutable: chattr +i is refused here: chattr: Operation not permitted")
	probe := filepath.Join(f.path, "probe")
	if r := f.run(context.Background(), "production", "exec", "touch "+probe+" && chattr +i "+probe); r.code == 0 {
		_ = exec.Command("chattr", "-i", probe).Run()
		t.Fatalf("premise: chattr +i works in a session of the sshd without CAP_LINUX_IMMUTABLE")
	}
	index := filepath.Join("node_modules", "ms", "index.js")
	before, _ := os.ReadFile(filepath.Join(oldRel, index))
	f.mustRun("production", "exec", "echo hacked >> "+index)
	if after, _ := os.ReadFile(filepath.Join(oldRel, index)); string(after) != string(before) {
		t.Errorf("writing into the new release's %s changed the old release's", index)
	}
	if after, _ := os.ReadFile(filepath.Join(newRel, index)); !strings.HasSuffix(string(after), "hacked\n") {
		t.Errorf("the write did not reach the new release")
	}
}

// TestE2EBuildAutoGo: a Go module with a main package under cmd/ is built
// on the server to bin/<name>, with go's caches in <path>/.cache/go; a
// compile error fails the deploy in step build and current stays.
func TestE2EBuildAutoGo(t *testing.T) {
	goBin := requireTool(t, "go")
	f := newFixture(t)
	f.origin.commitFiles(map[string]string{"go.mod": "module example.com/hello\n\ngo 1.21\n"})
	writeFile(t, filepath.Join(f.origin.dir, "README"), "no main at the root\n")
	if err := os.MkdirAll(filepath.Join(f.origin.dir, "cmd", "hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	main := "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() { b, _ := os.ReadFile(\"VERSION\"); fmt.Print(\"hello \", string(b)) }\n"
	f.origin.commitFiles(map[string]string{"cmd/hello/main.go": main})
	f.writeINI("build auto", "env PATH="+filepath.Dir(goBin)+":/usr/local/bin:/usr/bin:/bin")
	f.mustRun("production", "setup")
	r := f.mustRun("production")
	wantOut(t, r, "build: go detected (go.mod + package main in cmd/{hello}): go build -o bin/<name> ./cmd/<name>",
		"$ go build -o bin/hello ./cmd/hello", "deps: go's own build and module caches in "+f.path+"/.cache/go")
	cmd := exec.Command(filepath.Join(f.path, "current", "bin", "hello"))
	cmd.Dir = filepath.Join(f.path, "current")
	if out, err := cmd.Output(); err != nil || string(out) != "hello v3\n" {
		t.Fatalf("current/bin/hello: %q, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(f.path, ".cache", "go", "build")); err != nil {
		t.Errorf("go's build cache is not under the app's path: %v", err)
	}
	good := f.current()
	f.origin.commitFiles(map[string]string{"cmd/hello/main.go": "package main\n\nfunc main() { undefined() }\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r = f.run(ctx, "production")
	if r.code == 0 || !strings.Contains(r.stderr, "build: go: 'go build -o bin/hello ./cmd/hello' exited with status 1: current is unchanged") ||
		!strings.Contains(r.stderr, "undefined") {
		t.Errorf("a compile error: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if f.current() != good {
		t.Errorf("current moved to %s after a failed build", f.current())
	}
}

// msDevApp is msApp with ms as a devDependency: its build needs it, its
// runtime does not.
var msDevApp = map[string]string{
	"package.json": strings.Replace(msApp["package.json"], `"dependencies"`, `"devDependencies"`, 1),
	"package-lock.json": strings.Replace(strings.Replace(msApp["package-lock.json"],
		`"version": "1.0.0", "dependencies"`, `"version": "1.0.0", "devDependencies"`, 1),
		`"license": "MIT"`, `"dev": true, "license": "MIT"`, 1),
}

// TestE2EBuildAutoNodeDevDepsInProduction: with env NODE_ENV=production
// (which makes npm leave devDependencies out), a build script that needs a
// devDependency still builds: build auto installs them for the build and
// prunes them after, as Heroku's buildpack does. Cold and warm (the cache
// holds the full install; each release is pruned, the hard-linked
// read-only files notwithstanding), as a non-root deploy user.
func TestE2EBuildAutoNodeDevDepsInProduction(t *testing.T) {
	requireTool(t, "npm")
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	f.origin.commitFiles(msDevApp)
	f.writeINI("build auto", "env NODE_ENV=production")
	f.mustRun("production", "setup")
	for i, want := range []string{"deps: no cached install", "node_modules reused from"} {
		if i == 1 {
			f.origin.commit()
		}
		r := f.mustRun("production")
		wantOut(t, r, "build: node detected (package.json + package-lock.json + scripts.build + NODE_ENV=production): npm ci --no-audit --no-fund --include=dev, then npm run build, then npm prune --omit=dev",
			want, "deps: devDependencies pruned after the build (NODE_ENV=production)")
		if b, err := os.ReadFile(filepath.Join(f.path, "current", "built.txt")); err != nil || string(b) != "7200000\n" {
			t.Errorf("deploy %d: the build's output is %q, %v: the devDependency was missing?", i+1, b, err)
		}
		if _, err := os.Stat(filepath.Join(f.path, "current", "node_modules", "ms")); err == nil {
			t.Errorf("deploy %d: the devDependency ms is still in the release after the build", i+1)
		}
	}
}

// writeWheel writes a pure-Python wheel of package name at version into
// dir, as pip would build it (METADATA, WHEEL and a RECORD with hashes),
// and returns its path: a package pip installs with no index. Each
// console ("tool = module:func") becomes a script in the venv's bin/.
func writeWheel(t *testing.T, dir, name, version, code string, console ...string) string {
	t.Helper()
	info := name + "-" + version + ".dist-info/"
	files := []struct{ name, text string }{
		{name + "/__init__.py", code},
		{info + "METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: deploy-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	if len(console) > 0 {
		files = append(files, struct{ name, text string }{info + "entry_points.txt", "[console_scripts]\n" + strings.Join(console, "\n") + "\n"})
	}
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256([]byte(f.text))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.text))
	}
	record.WriteString(info + "RECORD,,\n")
	files = append(files, struct{ name, text string }{info + "RECORD", record.String()})
	path := filepath.Join(dir, name+"-"+version+"-py3-none-any.whl")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(out)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.text)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestE2EBuildAutoPythonOffline: a Python app with requirements.txt gets
// its own venv in the release, with the requirement installed by the
// venv's pip from what the test provides (a wheel in a find-links
// directory, PIP_NO_INDEX=1 through the env key), through the real sshd.
func TestE2EBuildAutoPythonOffline(t *testing.T) {
	requireTool(t, "python3")
	wheels := t.TempDir()
	writeWheel(t, wheels, "tinypkg", "1.0", "VALUE = 42\n")
	f := newFixture(t)
	f.origin.commitFiles(map[string]string{
		"requirements.txt": "tinypkg==1.0\n",
		"app.py":           "import tinypkg\nprint('value', tinypkg.VALUE)\n",
	})
	f.writeINI("build auto", "env PIP_NO_INDEX=1", "env PIP_FIND_LINKS="+wheels)
	f.mustRun("production", "setup")
	r := f.mustRun("production")
	wantOut(t, r, "build: python detected (requirements.txt): python3 -m venv .venv, then .venv/bin/pip install -r requirements.txt")
	out := f.mustRun("production", "exec", ".venv/bin/python app.py")
	if !strings.Contains(out.stdout, "value 42") {
		t.Fatalf("the release's venv runs the app as %q", out.stdout)
	}
	if _, err := os.Stat(filepath.Join(f.path, "releases", f.current(), ".venv", "pyvenv.cfg")); err != nil {
		t.Errorf("the release has no venv of its own: %v", err)
	}
}

// mountXFS makes a 300 MB XFS image (reflinks on: mkfs.xfs's default),
// mounts it on a temp dir through a loop device, and unmounts it when the
// test ends.
func mountXFS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a filesystem image needs root (make test runs as root)")
	}
	requireTool(t, "mkfs.xfs")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "xfs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"truncate", "-s", "300M", img}, {"mkfs.xfs", "-q", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}

// TestE2EBuildAutoNodeReflink: on a filesystem with reflinks (XFS on a
// loop device here), node_modules comes from the cache as copy-on-write
// clones, even as root: the release's files are its own (their own
// inodes, writable), they share the entry's blocks (filefrag's "shared"
// extents), and a write into the new release's package leaves the old
// release's and the entry's alone.
func TestE2EBuildAutoNodeReflink(t *testing.T) {
	requireTool(t, "npm")
	requireTool(t, "filefrag")
	mnt := mountXFS(t)
	f := newFixture(t)
	f.path = filepath.Join(mnt, "srv", "app")
	oldRel, newRel := deployNodeTwice(t, f, "reflink (copy-on-write clones)")
	if memo, err := os.ReadFile(filepath.Join(f.path, ".cache", "deps", ".reflink")); string(memo) != "yes\n" {
		t.Errorf("the reflink probe's answer kept in .cache/deps/.reflink: %q (%v), want yes", memo, err)
	}
	index := filepath.Join("node_modules", "ms", "index.js")
	var oldSt, newSt syscall.Stat_t
	if syscall.Stat(filepath.Join(oldRel, index), &oldSt) != nil || syscall.Stat(filepath.Join(newRel, index), &newSt) != nil {
		t.Fatal("cannot stat ms/index.js in both releases")
	}
	if oldSt.Ino == newSt.Ino || newSt.Mode&0o200 == 0 {
		t.Errorf("ms/index.js: inodes %d/%d, mode %o: want each release's own writable file", oldSt.Ino, newSt.Ino, newSt.Mode)
	}
	out, err := exec.Command("filefrag", "-v", filepath.Join(newRel, index)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "shared") {
		t.Errorf("filefrag -v shows no shared extent in the new release's ms/index.js (%v):\n%s", err, out)
	}
	before, _ := os.ReadFile(filepath.Join(oldRel, index))
	f.mustRun("production", "exec", "echo hacked >> "+index)
	if after, _ := os.ReadFile(filepath.Join(oldRel, index)); string(after) != string(before) || len(before) == 0 {
		t.Errorf("a write into the new release's %s reached the old release's", index)
	}
	if after, _ := os.ReadFile(filepath.Join(newRel, index)); !strings.HasSuffix(string(after), "hacked\n") {
		t.Errorf("the write did not reach the new release")
	}
	entries, _ := filepath.Glob(filepath.Join(f.path, ".cache", "deps", "node-*", "tree", "ms", "index.js"))
	if len(entries) != 1 {
		t.Fatalf("cache entries: %v", entries)
	}
	if got, _ := os.ReadFile(entries[0]); string(got) != string(before) {
		t.Errorf("the write reached the cache entry %s", entries[0])
	}
}
