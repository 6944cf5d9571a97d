package procmon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
)

// runLogDaemon writes cfgText to cfgPath and runs a Daemon of it. stop
// ends Run and waits for it (failing the test when it errs or hangs).
func runLogDaemon(t *testing.T, cfgPath, cfgText string) (d *Daemon, stderr *syncbuf.Buffer, stop func()) {
	t.Helper()
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr = &syncbuf.Buffer{}
	d, err = NewDaemon(cfg, DaemonOptions{Stderr: stderr, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return d, stderr, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			d.Force()
			t.Fatalf("Run did not return\n%s", stderr)
		}
	}
}

// TestDaemonLogCappedUnderFlood runs two workers that print as fast as
// they can (`yes`, each its own 100-byte line) into a 64 KB log: the file
// is rotated to .1, never exceeds the cap by more than one line, and every
// line is one whole worker line, never two mixed.
func TestDaemonLogCappedUnderFlood(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "log", "flood.log")
	const maxSize = 64 << 10
	// Worker n prints 99 zeros then n, forever: "exec" keeps the pid.
	cfgText := fmt.Sprintf(`name = "flood"
dir = %q
command = ["/bin/sh", "-c", "exec yes \"$(printf %%0100d \"$WORKER_ID\")\""]
workers = 2
mode = "none"
socket = %q
stop_timeout = "5s"
[log]
file = %q
max_size = "64KB"
`, dir, filepath.Join(dir, "procmon.sock"), logPath)
	d, stderr, stop := runLogDaemon(t, filepath.Join(dir, "flood.toml"), cfgText)

	// The longest line: stamp, gen/worker/pid prefix, 100-byte text.
	const maxLine = 200
	largest := int64(0)
	deadline := time.Now().Add(20 * time.Second)
	for d.logFile.Stats().Rotations < 3 && time.Now().Before(deadline) {
		if fi, err := os.Stat(logPath); err == nil {
			largest = max(largest, fi.Size())
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop()
	stats := d.logFile.Stats()
	if stats.Rotations < 3 {
		t.Fatalf("only %d rotations in 20s: %+v\n%s", stats.Rotations, stats, stderr)
	}
	if largest > maxSize+maxLine {
		t.Errorf("log reached %d bytes, cap %d + one line", largest, maxSize)
	}
	checkFloodLog(t, logPath, 0, maxSize+maxLine)
	// .1 was rotated when the next line would not fit: it is full.
	checkFloodLog(t, logPath+".1", maxSize-maxLine, maxSize+maxLine)
}

var (
	floodLine   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z gen=1 worker=([12]) pid=\d+ \| (0*)([12]?)$`)
	droppedLine = regexp.MustCompile(`dropped \d+ lines: workers wrote faster than the disk took them$`)
	ownLine     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z procmon \| level=`)
)

// checkFloodLog checks the file's size is within [least, limit] and that each line is one whole
// worker line whose text matches its worker, or logfile's own "dropped"
// notice. The last lines may be cut short: a worker killed mid-line has
// its last partial line logged as a line of its own.
func checkFloodLog(t *testing.T, path string, least, limit int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(data)); n > limit || n < least {
		t.Errorf("%s is %d bytes, want %d to %d", path, n, least, limit)
	}
	if len(data) == 0 {
		return // just rotated
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, line := range lines {
		if droppedLine.MatchString(line) || ownLine.MatchString(line) {
			continue
		}
		m := floodLine.FindStringSubmatch(line)
		whole := m != nil && len(m[2]) == 99 && m[3] == m[1]
		partial := m != nil && (m[3] == "" || m[3] == m[1]) && i >= len(lines)-4
		if !whole && !partial {
			t.Fatalf("%s line %d of %d is not one whole worker line: %q", path, i+1, len(lines), line)
		}
	}
}

// TestDaemonLogHoldsProcmonsOwnLines: with a [log] file, procmon's own
// records go into it beside the workers' lines, stamped and marked
// "procmon |" (as `pm2 logs` shows its "PM2 |" lines): a worker that
// exits shows its last words and, after them, why it restarts. stderr
// still gets every record.
func TestDaemonLogHoldsProcmonsOwnLines(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	cfgText := fmt.Sprintf(`name = "crashy"
dir = %q
command = ["/bin/sh", "-c", "echo \"worker $WORKER_ID up\"; sleep 0.3; echo 'giving up'; exit 3"]
workers = 1
mode = "none"
socket = %q
stop_timeout = "5s"
[log]
file = %q
`, dir, filepath.Join(dir, "procmon.sock"), logPath)
	_, stderr, stop := runLogDaemon(t, filepath.Join(dir, "crashy.toml"), cfgText)
	crashed := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z procmon \| level=WARN msg="worker crashed" app=crashy gen=1 worker=1 pid=\d+ how="exited with status 3" restart_in=`)
	var text string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if text = string(b); crashed.MatchString(text) {
			break
		}
	}
	stop()
	last := crashed.FindStringIndex(text)
	if last == nil {
		t.Fatalf("the log has no line of procmon's saying the worker crashed:\n%s", text)
	}
	words := strings.Index(text, "gen=1 worker=1 pid=")
	if bye := strings.Index(text, "| giving up"); words < 0 || bye < 0 || bye > last[0] ||
		!strings.Contains(text, `procmon | level=INFO msg="worker started" app=crashy gen=1 worker=1`) {
		t.Errorf("want the worker's own lines, then procmon's crash line after its last words:\n%s", text)
	}
	if !strings.Contains(stderr.String(), `msg="worker crashed"`) {
		t.Errorf("stderr lost procmon's records:\n%s", stderr)
	}
}
