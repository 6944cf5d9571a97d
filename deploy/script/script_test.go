package script

import (
	"os/exec"
	"strings"
	"testing"
)

// TestScriptParses checks the assembled script with bash -n, and that it
// holds no NUL (which would end it early on the server).
func TestScriptParses(t *testing.T) {
	t.Parallel()
	s := Script()
	if strings.IndexByte(s, 0) >= 0 {
		t.Fatal("the script holds a NUL byte")
	}
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(s)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
}
