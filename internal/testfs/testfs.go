// Package testfs writes the files a test starts from: an app's tree, a
// release, a package manager's config.
package testfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// WriteFiles writes each name's text under dir (mode 0644, directories
// made as needed), failing t on the first error.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// HomeWithoutCache returns a new home directory whose .cache is a regular
// file: nothing can be found or kept under ~/.cache there, root or not
// (deploy's remote script then finds no copy of itself and keeps none).
func HomeWithoutCache(t testing.TB) string {
	t.Helper()
	home := t.TempDir()
	WriteFiles(t, home, map[string]string{".cache": ""})
	return home
}

// Thaw clears the immutable attribute (chattr -R -i) under dir when the
// test ends, before t.TempDir's removal, which cannot remove an immutable
// file: a deploy running as root makes its linked dependency cache
// entries immutable. Call it after making the temp dir that holds dir.
func Thaw(t testing.TB, dir string) {
	t.Cleanup(func() {
		if os.Geteuid() != 0 {
			return
		}
		if _, err := os.Lstat(dir); err != nil {
			return
		}
		// -f: symlinks, sockets and fifos take no attributes
		if out, err := exec.Command("chattr", "-R", "-f", "-i", dir).CombinedOutput(); err != nil && len(out) > 0 {
			t.Logf("testfs: chattr -R -i %s: %v\n%s", dir, err, out)
		}
	})
}
