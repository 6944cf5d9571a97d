package main

import (
	"encoding/json"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/procmon/control"
)

// TestScaleCommand drives `procmon scale` against a real daemon: the
// count changes without a reload, status (table and --json) shows it and
// where it came from, and bad arguments are refused with a hint.
func TestScaleCommand(t *testing.T) {
	a := newCmdApp(t)
	ctx := t.Context()
	daemonErr := &syncbuf.Buffer{}
	daemon := startProcmon(t, nil, io.Discard, daemonErr, "run", "-c", a.cfg)
	defer stopProcmon(t, daemon, syscall.SIGTERM, daemonErr)
	waitReady(t, a, daemonErr)

	code, out, errOut := invoke(ctx, "scale", "-c", a.cfg, "3")
	if code != 0 || !strings.Contains(out, "scaled 2 → 3: procmon scale 3") {
		t.Fatalf("scale 3: exit %d\n%s%s", code, out, errOut)
	}
	var st control.Status
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, out, _ = invoke(ctx, "status", "--json", "-c", a.cfg)
		st = control.Status{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if readyIn(st) == 3 || time.Now().After(deadline) {
			break
		}
	}
	if readyIn(st) != 3 || st.Generation != 1 || st.Scale == nil || st.Scale.Workers != 3 || st.Scale.Source != "scale" ||
		st.Scale.ConfigWorkers != 2 || st.Scale.Last == nil || st.Scale.Last.To != 3 {
		t.Fatalf("status --json after scale 3: %s\n%s", out, daemonErr)
	}
	if code, out, _ := invoke(ctx, "status", "-c", a.cfg); code != 0 || !strings.Contains(out, "workers:   3 (set by scale; config says 2); last scaled 2 → 3: procmon scale 3") {
		t.Errorf("status: %d\n%s", code, out)
	}
	// scaling down says what happens to the workers scaled away
	if code, out, errOut := invoke(ctx, "scale", "-c", a.cfg, "2"); code != 0 || !strings.Contains(out, "scaled 3 → 2: procmon scale 2; the workers scaled away finish their requests in flight, then stop") {
		t.Errorf("scale 2: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"0"}, {"two"}, {}} {
		code, _, errOut := invoke(ctx, append([]string{"scale", "-c", a.cfg}, args...)...)
		if code != 1 || !strings.Contains(errOut, "error: scale") || !strings.Contains(errOut, "hint: ") {
			t.Errorf("scale %v: exit %d\n%s", args, code, errOut)
		}
	}
}

func readyIn(st control.Status) int {
	n := 0
	for _, w := range st.Workers {
		if w.Generation == st.Generation && w.State == "ready" {
			n++
		}
	}
	return n
}
