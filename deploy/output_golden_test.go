package deploy

import (
	"os"
	"path/filepath"
	"testing"
)

// assertOutputGolden compares got with testdata/<name>.golden.
// Refresh with UPDATE_GOLDEN=1 go test ./deploy -run 'Golden|Table'.
func assertOutputGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name+".golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s changed:\n--- got\n%s--- want\n%s", name, got, want)
	}
}
