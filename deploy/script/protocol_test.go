package script

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// markPattern finds `mark "<kind> [<topic>]` in the script's files.
var markPattern = regexp.MustCompile(`\bmark "([a-z-]+)(?: ([a-z-]+))?`)

// TestEveryMarkIsDeclared: every kind (and info topic) the bash files
// write is a declared Kind (InfoX), and every declared one is written
// somewhere, so the Go side and the script cannot drift apart silently.
func TestEveryMarkIsDeclared(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.sh")
	if err != nil || len(files) == 0 {
		t.Fatalf("no script files: %v", err)
	}
	usedKinds, usedTopics := map[Kind]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markPattern.FindAllStringSubmatch(string(b), -1) {
			kind := Kind(m[1])
			usedKinds[kind] = true
			if !slices.Contains(kinds, kind) {
				t.Errorf("%s writes `mark \"%s …\"`, but %q is not a declared Kind in protocol.go", f, kind, kind)
			}
			if kind == KindInfo {
				usedTopics[m[2]] = true
				if !slices.Contains(infoTopics, m[2]) {
					t.Errorf("%s writes `mark \"info %s …\"`, but %q is not a declared info topic", f, m[2], m[2])
				}
			}
		}
	}
	for _, k := range kinds {
		if !usedKinds[k] {
			t.Errorf("Kind %q is declared but no script file writes it", k)
		}
	}
	for _, topic := range infoTopics {
		if !usedTopics[topic] {
			t.Errorf("info topic %q is declared but no script file writes it", topic)
		}
	}
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line  string
		ok    bool
		kind  Kind
		f1    string
		after string // After(3)
	}{
		{"plain output", false, "", "", ""},
		{"@@deploy gate 2026-x abc fail HTTP 503  after 60s", true, KindGate, "abc", "HTTP 503  after 60s"},
		{"@@deploy info old - -", true, KindInfo, "", ""},
		{"@@deploy done", true, KindDone, "", ""},
		{" @@deploy done", false, "", "", ""},
	}
	for _, tt := range tests {
		m, ok := ParseLine(tt.line)
		if ok != tt.ok || m.Kind != tt.kind || m.Field(1) != tt.f1 || m.After(3) != tt.after {
			t.Errorf("ParseLine(%q) = %+v, %v; Field(1) %q After(3) %q", tt.line, m, ok, m.Field(1), m.After(3))
		}
	}
}
