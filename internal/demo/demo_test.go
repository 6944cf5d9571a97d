package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildBinaries builds deploy and procmon as make build would.
func buildBinaries(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := t.TempDir()
	for _, name := range []string{"deploy", "procmon"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	return bin
}

// The demo runs end to end, reports zero failed requests and removes
// everything it made — over the private sshd (when installed) and over
// the local transport, and with the Go example (socket mode, notify
// readiness) that machines without node get.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo builds both binaries and deploys twice")
	}
	bin := buildBinaries(t)
	_, file, _, _ := runtime.Caller(0)
	examples := filepath.Join(filepath.Dir(file), "..", "..", "examples")
	for _, tc := range []struct {
		local   bool
		example string
	}{{false, ""}, {true, ""}, {true, "go-hello"}} {
		local := tc.local
		name := "sshd"
		if local {
			name = "local"
		} else if _, err := os.Stat(sshdPath); err != nil {
			if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
				t.Fatalf("%s missing under DEPLOY_REQUIRE_SSHD=1", sshdPath)
			}
			t.Logf("no %s: the demo's sshd path is not exercised", sshdPath)
			continue
		}
		if tc.example != "" {
			name += "-" + tc.example
		}
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			start := time.Now()
			rep, err := Run(ctx, Options{BinDir: bin, ExamplesDir: examples, Local: local, Example: tc.example, Out: &out})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			t.Logf("demo took %v", time.Since(start))
			if rep.Deploy.Failed != 0 || rep.Revert.Failed != 0 || rep.Deploy.Requests == 0 || rep.Revert.Requests == 0 {
				t.Fatalf("load: %+v\n%s", rep, out.String())
			}
			if len(rep.Deploy.Versions) != 2 || len(rep.Revert.Versions) != 2 {
				t.Errorf("the load should have seen both versions each time: %+v", rep)
			}
			text := out.String()
			for _, want := range []string{"zero failed requests", "cleaned up"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			dir := regexp.MustCompile(`cleaned up: procmon stopped, (\S+) removed`).FindStringSubmatch(text)
			if dir == nil {
				t.Fatalf("output does not name the removed work dir:\n%s", text)
			}
			if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
				t.Errorf("work dir %s still exists: %v", dir[1], err)
			}
		})
	}
}
