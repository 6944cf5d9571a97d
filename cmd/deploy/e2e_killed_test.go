package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
)

// buildDeploy builds the deploy binary, to run it as its own process that
// a test can SIGKILL (a crash, a closed lid, a dropped VPN).
func buildDeploy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "deploy")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/deploy")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build deploy: %v\n%s", err, out)
	}
	return bin
}

// A fleet deploy (three hosts, batch 1) whose laptop is SIGKILLed while
// the first host's gate runs never leaves the fleet on mixed versions: the
// switched host goes back to its previous release, the others never
// switch, and every lock is freed.
func TestFleetKilledClientLeavesNoMixedVersions(t *testing.T) {
	bin := buildDeploy(t)
	f, hosts := newFleetFixture(t, "batch 1",
		`post-deploy touch "$DEPLOY_PATH/../gate-started"; sleep 2`)
	f.mustRun("production", "setup")
	first := make([]string, len(hosts))
	f.mustRun("production")
	for i, h := range hosts {
		first[i] = releaseOn(t, h)
		_ = os.Remove(filepath.Join(h.Root, "gate-started"))
	}

	f.origin.commit()
	cmd := exec.Command(bin, "-c", f.conf, "production")
	cmd.Env = append(homeEnv(f.home), "SSH_AUTH_SOCK=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var started *sshtest.Host
	deadline := time.Now().Add(90 * time.Second)
	for started == nil && time.Now().Before(deadline) {
		for _, h := range hosts {
			if _, err := os.Stat(filepath.Join(h.Root, "gate-started")); err == nil {
				started = h
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if started == nil {
		t.Fatal("no host reached its gate within 90 s")
	}

	for i, h := range hosts {
		waitHostSettled(t, h, first[i])
	}
}

// waitHostSettled waits (bounded) until host h has freed its lock and
// runs want, with .deploys ending in an event for want (revert) or in
// nothing newer than want's deploy.
func waitHostSettled(t *testing.T, h *sshtest.Host, want string) {
	t.Helper()
	app := filepath.Join(h.Root, "app")
	deadline := time.Now().Add(60 * time.Second)
	for {
		lock, _ := os.ReadFile(filepath.Join(app, ".deploy.lock"))
		cur, _ := os.Readlink(filepath.Join(app, "current"))
		log, _ := os.ReadFile(filepath.Join(app, ".deploys"))
		lines := strings.Split(strings.TrimSpace(string(log)), "\n")
		last := strings.Split(lines[len(lines)-1], "\t")
		settled := len(lock) == 0 && filepath.Base(cur) == want && len(last) > 3 &&
			(last[1] == want || last[3] == "failed")
		if settled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s 60 s after the client died: current %s, lock %q, last event %q; want back on %s",
				h.Addr(), cur, lock, lines[len(lines)-1], want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
