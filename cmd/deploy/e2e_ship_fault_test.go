package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKilledWhileShipping: the laptop is SIGKILLed as the push (source
// push) or the upload (build local) starts, with the pack or the tar
// possibly half sent. The server ends as it was: current and .deploys
// name the release of before, no deploy line was added, the lock is
// free, and no half-received pack or staged upload is left behind. The
// next deploy works.
func TestKilledWhileShipping(t *testing.T) {
	bin := buildDeploy(t)
	for _, tc := range []struct {
		step  string
		lines []string
	}{
		{"push", []string{"source push"}},
		{"upload", []string{"build local", "build-command mkdir -p dist && cp VERSION dist/ && head -c 4000000 /dev/urandom >dist/big"}},
	} {
		t.Run(tc.step, func(t *testing.T) {
			h := newLaptopHost(t, tc.lines...)
			h.mustRun("production", "setup")
			h.mustRun("production")
			before, log := h.current(), h.events()
			h.commit("v2", true)
			// a big file makes the pack or the tar take a while to send
			writeFile(t, filepath.Join(h.laptop, "big"), strings.Repeat(fmt.Sprintf("%x", time.Now().UnixNano()), 200000))
			h.origin.git("-C", h.laptop, "add", "big")
			h.origin.git("-C", h.laptop, "commit", "-q", "-m", "big")
			h.origin.git("-C", h.laptop, "push", "-q", "origin", "main")
			next := h.origin.git("-C", h.laptop, "rev-parse", "HEAD")
			if !killAtStep(t, bin, h.home, tc.step, "-c", h.conf, "production") {
				t.Fatalf("the deploy never reached the %s step", tc.step)
			}
			h.waitShipSettled()
			if got := h.current(); got != before {
				t.Errorf("current is %s after a killed %s, want %s", got, tc.step, before)
			}
			if got := h.events(); slices.Contains(got[len(log):], "deploy") {
				t.Errorf("a killed %s logged a deploy: %v", tc.step, got)
			}
			h.mustRun("production")
			if got := h.currentSHA(); got != next {
				t.Errorf("the deploy after the kill runs %s, want %s", got, next)
			}
		})
	}
}

// waitShipSettled waits (bounded) until the server's script is gone: the
// lock free, no half-received pack in repo/, nothing in .staging.
func (h *laptopHost) waitShipSettled() {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		lock, _ := os.ReadFile(filepath.Join(h.path, ".deploy.lock"))
		incoming, _ := filepath.Glob(filepath.Join(h.path, "repo", "incoming.*"))
		staged, _ := os.ReadDir(filepath.Join(h.path, ".staging"))
		if len(lock) == 0 && len(incoming) == 0 && len(staged) == 0 && !scriptRunning(h.deployer.UID) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the server never settled: lock %q, incoming %v, staged %d entries", lock, incoming, len(staged))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scriptRunning reports whether a remote script (argv[0] deploy-remote)
// runs as uid, from /proc.
func scriptRunning(uid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmdline), "deploy-remote\x00deploy\x00") {
			continue
		}
		if st, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == uid {
				return true
			}
		}
	}
	return false
}
