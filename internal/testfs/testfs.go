// Package testfs writes the files a test starts from: an app's tree, a
// release, a package manager's config.
package testfs

import (
	"os"
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
