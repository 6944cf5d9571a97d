// Package golden compares test output with files under testdata, the way
// the repository's rendered scripts, tables and plans are pinned.
// UPDATE_GOLDEN=1 rewrites the files instead of comparing.
package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// Assert compares got with testdata/<name>.golden, or writes it there when
// UPDATE_GOLDEN is set. A mismatch is an error that shows both texts.
func Assert(t testing.TB, name, got string) {
	t.Helper()
	AssertFile(t, filepath.Join("testdata", name+".golden"), got)
}

// AssertFile is Assert for a file named in full (a shipped example that
// must equal what the code renders, say).
func AssertFile(t testing.TB, file, got string) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s changed (UPDATE_GOLDEN=1 refreshes it if the change is meant):\n--- got\n%s--- want\n%s", file, got, want)
	}
}
