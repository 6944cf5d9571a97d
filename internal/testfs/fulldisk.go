package testfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes on a temp dir and unmounts it
// when the test ends; the test skips unless it runs as root (make test
// does). tmpfs keeps no blocks back for root (ext4 keeps 5 %), so a
// process running as root meets a full disk on it as anyone would.
func MountTmpfs(t testing.TB, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a filesystem needs root (make test runs as root)")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}

// FillDisk appends to path until the filesystem holding it has at most
// leave bytes free (rounded to its blocks), and returns the bytes free
// then.
func FillDisk(t testing.TB, path string, leave int64) int64 {
	t.Helper()
	free := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	chunk := make([]byte, 4096)
	for n := free() - leave; n > 0; n -= int64(len(chunk)) {
		if _, err := fh.Write(chunk[:min(int64(len(chunk)), n)]); err != nil {
			break // full: ENOSPC
		}
	}
	return free()
}
