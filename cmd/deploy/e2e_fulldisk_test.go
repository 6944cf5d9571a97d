package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/internal/testfs"
)

// padToPageEnd appends `failed` lines (the kind a deploy that failed
// before making a release writes) to .deploys until its last 4 KB page
// has room bytes left, so that the next line written to it crosses into
// a new page: on a full filesystem that write stops at the page's end.
func padToPageEnd(t *testing.T, file string, room int) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	const head = "-\t-\t2026-12-01T00:00:00Z\tfailed\t-\t"
	const shortest = len(head) + 2 // a one-letter name and the newline
	need := (2*4096 - int(fi.Size())%4096 - room) % 4096
	if need < shortest {
		need += 4096
	}
	var b strings.Builder
	for need > 0 {
		n := min(need, 240)
		if rest := need - n; rest > 0 && rest < shortest {
			n = need - shortest
		}
		b.WriteString(head + strings.Repeat("p", n-len(head)-1) + "\n")
		need -= n
	}
	fh, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	if fi, err = fh.Stat(); err != nil || 4096-fi.Size()%4096 != int64(room) {
		t.Fatalf(".deploys padded to %d bytes (%v): want %d bytes left in its last page", fi.Size(), err, room)
	}
}

// TestFullDiskLeavesTheServerAsItWas runs deploys and a revert on a small
// tmpfs, through the real sshd, with the disk full at each step that
// writes: the lock, the fetch into the mirror, the checkout, and the
// append to .deploys after the switch (the disk filled by the pre-deploy
// hook, with .deploys a few bytes short of a page's end, so that the
// append stops midway, as write(2) does on a full filesystem). Each one
// fails with the reason, and leaves current, the releases, the lock and
// .deploys byte for byte as they were: a line cut midway would run into
// the next deploy's line, and `list` and `revert` read .deploys. Once
// space is freed the same deploy and revert go through.
func TestFullDiskLeavesTheServerAsItWas(t *testing.T) {
	mnt := testfs.MountTmpfs(t, 8<<20)
	f := newFixture(t)
	f.path = filepath.Join(mnt, "srv", "app")
	log := filepath.Join(f.path, ".deploys")
	filler := filepath.Join(mnt, "filler")
	f.writeINI("keep 5")
	f.mustRun("production", "setup")
	f.mustRun("production")
	first := f.current()

	// The next commit brings 256 KB that does not compress: its pack
	// alone needs that much in the mirror, and the checkout as much again.
	big := make([]byte, 256<<10)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.origin.dir, "blob.bin"), string(big))
	want := f.origin.commit()

	// state is what must not change: the log's bytes, current, the
	// releases, the lock's holder line.
	state := func() string {
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		lock, _ := os.ReadFile(filepath.Join(f.path, ".deploy.lock"))
		return fmt.Sprintf("current %s\nreleases %v\nlock %q\n.deploys:\n%s", f.current(), f.releases(), lock, b)
	}
	failing := func(what, wantErr string, args ...string) {
		t.Helper()
		before := state()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r := f.run(ctx, args...)
		if r.code == 0 {
			t.Fatalf("%s: deploy %v went through on a full disk\n%s", what, args, r.stdout)
		}
		if !strings.Contains(r.stdout+r.stderr, wantErr) {
			t.Errorf("%s: the output does not say %q:\nstdout:\n%s\nstderr:\n%s", what, wantErr, r.stdout, r.stderr)
		}
		// What may change: one whole `failed` line more (of this commit,
		// or of none yet), when the failure itself freed the space for
		// it (the release removed).
		after := state()
		added, ok := strings.CutPrefix(after, before)
		fields := strings.Split(strings.TrimSuffix(added, "\n"), "\t")
		if after != before && (!ok || strings.Count(added, "\n") != 1 || !strings.HasSuffix(added, "\n") ||
			len(fields) != 6 || fields[3] != "failed" || fields[0] != "-" && fields[0] != want) {
			t.Errorf("%s: the server changed (more than one whole `failed` line):\nbefore:\n%s\nafter:\n%s\noutput:\n%s%s", what, before, after, r.stdout, r.stderr)
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}

	// Full before anything: the lock's holder line cannot be written.
	testfs.FillDisk(t, filler, 0)
	failing("no space at all", "No space left on device", "production")
	// Room for the lock but not for the fetch's pack.
	testfs.FillDisk(t, filler, 64<<10)
	failing("no space for the fetch", "No space left on device", "production")
	// Room for the pack but not for the checkout.
	testfs.FillDisk(t, filler, 400<<10)
	failing("no space for the checkout", "unable to write file blob.bin", "production")

	// Room for everything but the log's line: the pre-deploy hook fills
	// the disk, the switch takes no blocks (a short symlink lives in its
	// inode), and the append to .deploys stops at the page's end.
	padToPageEnd(t, log, 10)
	f.writeINI("keep 5", "pre-deploy head -c 64M /dev/zero > "+filler+" || true")
	failing("no space for the .deploys line", "cannot append to "+log+" (full disk, read-only, or another user's?): current is unchanged", "production")

	// Space again: the same deploy goes through, and .deploys reads.
	f.writeINI("keep 5")
	f.mustRun("production")
	if f.currentSHA() != want || f.current() == first {
		t.Fatalf("after space was freed: current %s at %s, want a new release at %s", f.current(), f.currentSHA(), want)
	}
	readLog := func() []deploy.LogEntry {
		t.Helper()
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := deploy.ParseLog(b)
		if err != nil {
			t.Fatalf(".deploys no longer reads: %v\n%s", err, b)
		}
		return entries
	}
	if e := readLog(); e[len(e)-1].Event != deploy.EventDeploy || e[len(e)-1].SHA != want {
		t.Fatalf("last .deploys line %+v, want the deploy of %s", e[len(e)-1], want)
	}
	if r := f.mustRun("production", "list"); !strings.Contains(r.stdout, want[:7]) {
		t.Errorf("list does not show %s:\n%s", want[:7], r.stdout)
	}

	// A revert on a full disk: refused at the lock, saying why.
	second := f.current()
	testfs.FillDisk(t, filler, 0)
	failing("a revert with no space at all", "cannot write who holds the lock to "+filepath.Join(f.path, ".deploy.lock")+
		" (full disk, read-only, or another user's?): nothing was changed", "production", "revert")
	// One block free, which the lock's line takes: the switch back is
	// undone, the log intact.
	padToPageEnd(t, log, 10)
	testfs.FillDisk(t, filler, 4096)
	failing("no space for the revert's line", "cannot append to "+log+" (full disk, read-only, or another user's?): current is unchanged, still "+second, "production", "revert")
	f.mustRun("production", "revert")
	if f.current() != first {
		t.Fatalf("after space was freed: revert left current at %s, want %s", f.current(), first)
	}
	if e := readLog(); e[len(e)-1].Event != deploy.EventRevert || e[len(e)-1].Release != first {
		t.Fatalf("last .deploys line %+v, want the revert to %s", e[len(e)-1], first)
	}
	if b, _ := os.ReadFile(log); !bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf(".deploys does not end with a newline")
	}
}
