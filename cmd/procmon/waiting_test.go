package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/procmon/control"
	"github.com/deploytool/deploy/procmon/sdnotify"
)

// TestRunWaitsForFirstDeploy runs `procmon run` as the README's first
// deploy steps do: before the app's path holds anything. procmon starts,
// tells systemd it is ready, says it waits, answers 503, refuses a reload
// (exit 3) until the deploy created current, then serves on the deploy's
// `procmon reload --wait` (exit 0).
func TestRunWaitsForFirstDeploy(t *testing.T) {
	a := newCmdApp(t)
	www := filepath.Join(a.dir, "www")
	a.appDir = filepath.Join(www, "shop", "current")
	a.write(t, "", "20s")
	ctx := t.Context()
	notify, err := sdnotify.Listen(filepath.Join(a.dir, "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	notified := recordNotify(notify)
	daemonErr := &syncbuf.Buffer{}
	daemon := startProcmon(t, []string{"NOTIFY_SOCKET=" + notify.Path()}, io.Discard, daemonErr, "run", "-c", a.cfg)
	stopped := false
	defer func() {
		if !stopped {
			stopProcmon(t, daemon, syscall.SIGTERM, daemonErr)
		}
	}()
	waitState(t, a, control.StateWaiting, daemonErr)
	checkNotified(t, notified, "READY")
	if code, out, errOut := invoke(ctx, "status", "-c", a.cfg); code != 0 || !strings.Contains(out, "procmon shop: waiting, generation 0") ||
		!strings.Contains(out, "serving nothing (503): waiting for the first deploy") {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}
	if resp, err := http.Get("http://" + a.addr + "/"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET while waiting: %v %v, want 503", resp, err)
	} else {
		resp.Body.Close()
	}

	code, out, errOut := invoke(ctx, "reload", "--wait", "-c", a.cfg)
	want := fmt.Sprintf("reload abandoned: dir %s does not exist yet (%s is missing): deploy first\nnothing serves yet", a.appDir, www)
	if code != control.ExitAbandoned || !strings.Contains(errOut, want) {
		t.Fatalf("reload --wait before the first deploy: exit %d, want 3 and %q\nstdout: %s\nstderr: %s", code, want, out, errOut)
	}
	waitState(t, a, control.StateWaiting, daemonErr)

	release := filepath.Join(www, "shop", "releases", "r1")
	if err := os.MkdirAll(release, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(release, a.appDir); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = invoke(ctx, "reload", "--wait", "-c", a.cfg)
	if code != 0 || !strings.Contains(out, "reload served: generation 1") {
		t.Fatalf("reload --wait after the first deploy: exit %d\n%s%s", code, out, errOut)
	}
	waitBody(t, "http://"+a.addr+"/", "generation 1", daemonErr)
	stopProcmon(t, daemon, syscall.SIGTERM, daemonErr)
	stopped = true
	checkNotified(t, notified, "READY READY RELOADING READY STOPPING")
}

// waitState polls `status --json` until the app's state is want.
func waitState(t *testing.T, a *cmdApp, want string, log fmt.Stringer) {
	t.Helper()
	var st control.Status
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, out, _ := invoke(t.Context(), "status", "--json", "-c", a.cfg)
		if code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.State == want {
			return
		}
	}
	t.Fatalf("%s never reached state %s: %+v\n%s", a.cfg, want, st, log)
}
