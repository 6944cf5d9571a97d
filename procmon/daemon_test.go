package procmon

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/procmon/control"
	"github.com/deploytool/deploy/procmon/metrics"
	"github.com/deploytool/deploy/procmon/sdnotify"
)

// fixedSource is a metrics.Source with settable readings.
type fixedSource struct {
	mu         sync.Mutex
	memPercent uint64
	ticks      uint64
}

func (f *fixedSource) set(mem uint64) { f.mu.Lock(); f.memPercent = mem; f.mu.Unlock() }

func (f *fixedSource) CPU() (metrics.CPUTimes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ticks += 100
	return metrics.CPUTimes{Busy: f.ticks / 10, Total: f.ticks, CPUs: 2}, nil
}

func (f *fixedSource) Memory() (metrics.Memory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return metrics.Memory{TotalBytes: 100 << 20, AvailableBytes: (100 - f.memPercent) << 20}, nil
}

func (f *fixedSource) Disk(string) (metrics.Disk, error) {
	return metrics.Disk{UsedBytes: 30, AvailableBytes: 70}, nil
}

func (f *fixedSource) Process(int) (metrics.ProcessTimes, error) {
	return metrics.ProcessTimes{CPUTicks: 1, RSSBytes: 1 << 20}, nil
}

// testDaemon is a Daemon running a testApp's config, with a test
// NOTIFY_SOCKET recording what it sends.
type testDaemon struct {
	*testApp
	d      *Daemon
	source *fixedSource
	client *control.Client
	stderr *syncbuf.Buffer
	dmu    sync.Mutex
	msgs   []sdnotify.Message
}

func startDaemon(t *testing.T, a *testApp) *testDaemon {
	t.Helper()
	td := launchDaemon(t, a)
	a.waitState(StateReady, 20*time.Second)
	return td
}

// launchDaemon is startDaemon without waiting for any state.
func launchDaemon(t *testing.T, a *testApp) *testDaemon {
	t.Helper()
	td := &testDaemon{testApp: a, source: &fixedSource{memPercent: 40}, stderr: &syncbuf.Buffer{}}
	ln, err := sdnotify.Listen(filepath.Join(a.root, "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	env := map[string]string{"NOTIFY_SOCKET": ln.Path(), "WATCHDOG_USEC": "400000"}
	go td.record(ln)
	cfg, err := LoadConfig(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	td.d, err = NewDaemon(cfg, DaemonOptions{
		Stderr: td.stderr, Getenv: func(k string) string { return env[k] },
		MetricsSource: td.source, MetricsInterval: 100 * time.Millisecond, Debounce: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.sup, a.out = td.d.Supervisor(), td.stderr
	td.client = control.NewClient(cfg.Socket)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- td.d.Run(ctx) }()
	t.Cleanup(a.stop)
	return td
}

func (td *testDaemon) record(ln *sdnotify.Listener) {
	for {
		m, err := ln.Receive(context.Background())
		if err != nil {
			return
		}
		td.dmu.Lock()
		td.msgs = append(td.msgs, m)
		td.dmu.Unlock()
	}
}

// lifecycle returns the READY/RELOADING/STOPPING messages in order,
// checking that each RELOADING carries MONOTONIC_USEC, and counts the
// WATCHDOG=1 and STATUS= ones.
func (td *testDaemon) lifecycle(t *testing.T) (seq []string, watchdogs int, statuses []string) {
	td.dmu.Lock()
	defer td.dmu.Unlock()
	for _, m := range td.msgs {
		for _, k := range m.Keys {
			switch k {
			case "READY", "STOPPING":
				seq = append(seq, k)
			case "RELOADING":
				seq = append(seq, k)
				if _, ok := m.Get("MONOTONIC_USEC"); !ok {
					t.Errorf("RELOADING without MONOTONIC_USEC: %v", m.Fields)
				}
			case "WATCHDOG":
				watchdogs++
			case "STATUS":
				statuses = append(statuses, m.Fields["STATUS"])
			}
		}
	}
	return seq, watchdogs, statuses
}

func (td *testDaemon) reload(t *testing.T) control.ReloadResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := td.client.Reload(ctx, true, 45*time.Second)
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, td.stderr)
	}
	return r
}

// TestDaemonReloadVerdictsStatusAndNotify drives a real daemon over its
// control socket: a served reload, a reload abandoned because the new
// generation is never ready, one abandoned because it crashes at boot
// (with its last log lines), the status in between, and the sd_notify
// messages in order.
func TestDaemonReloadVerdictsStatusAndNotify(t *testing.T) {
	td := startDaemon(t, newTestApp(t, appSpec{workers: 2}))
	// STATUS= sums up each batch of events the main loop takes: a reload
	// asked for before the batch that made generation 1 ready was taken
	// comes in that same batch, and "ready: generation 1" is never sent
	// (a loaded make test run saw it). The reload waits for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, _, statuses := td.lifecycle(t)
		if strings.Contains(strings.Join(statuses, "\n")+"\n", "ready: generation 1, 2/2 workers ready\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no STATUS=ready for generation 1 within 10 s: %q", statuses)
		}
	}
	r := td.reload(t)
	if r.Outcome != control.OutcomeServed || r.Generation != 2 || r.Serving != 2 || control.ExitCode(r, nil) != control.ExitOK {
		t.Fatalf("reload: %+v", r)
	}

	td.spec.extra = "[ready]\ntimeout = \"2s\"\n"
	td.writeConfig(map[string]string{"PMT_NEVER_READY": "1"})
	r = td.reload(t)
	if r.Outcome != control.OutcomeAbandoned || r.Generation != 3 || r.Serving != 2 ||
		!strings.Contains(r.Reason, "not ready") || control.ExitCode(r, nil) != control.ExitAbandoned {
		t.Fatalf("never-ready reload: %+v", r)
	}
	td.writeConfig(map[string]string{"PMT_CRASH_AT_BOOT": "1"})
	r = td.reload(t)
	if r.Outcome != control.OutcomeAbandoned || r.Serving != 2 || !strings.Contains(r.Reason, "before it was ready") ||
		len(r.LogTail) == 0 || !strings.Contains(strings.Join(r.LogTail, "\n"), "crashing at boot") {
		t.Fatalf("crash-at-boot reload: %+v", r)
	}
	if _, body, _, err := get(httpClient(), td.url("/")); err != nil || !strings.Contains(body, "gen=2 ") {
		t.Fatalf("generation 2 should still serve: %q %v", body, err)
	}

	st := td.waitDaemonStatus(t, "3 reloads, metrics", func(s control.Status) bool { return s.Reloads == 3 && s.Metrics != nil })
	checkStatus(t, st, td)

	td.stop()
	want := "READY RELOADING READY RELOADING READY RELOADING READY STOPPING"
	seq, watchdogs, statuses := td.lifecycle(t)
	for deadline := time.Now().Add(5 * time.Second); strings.Join(seq, " ") != want && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // the last datagrams may still be on their way
		seq, watchdogs, statuses = td.lifecycle(t)
	}
	if got := strings.Join(seq, " "); got != want {
		t.Errorf("sd_notify sequence:\n got %s\nwant %s", got, want)
	}
	if watchdogs == 0 {
		t.Errorf("no WATCHDOG=1 with WATCHDOG_USEC=400000")
	}
	if all := strings.Join(statuses, "\n"); !strings.Contains(all, "ready: generation 1, 2/2 workers ready\n") ||
		!strings.Contains(all, "reload of generation 4 abandoned: worker") {
		t.Errorf("STATUS= lines: %q", statuses)
	}
	if _, err := os.Stat(td.d.SocketPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
}

func (td *testDaemon) waitDaemonStatus(t *testing.T, what string, ok func(control.Status) bool) control.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := td.client.Status(context.Background())
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed %s: %+v %v\n%s", what, st, err, td.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkStatus compares the status JSON fields with the known state after
// TestDaemonReloadVerdictsStatusAndNotify's reloads.
func checkStatus(t *testing.T, st control.Status, td *testDaemon) {
	t.Helper()
	if st.App != "testapp" || st.PID != os.Getpid() || st.State != control.StateReady || st.Generation != 2 ||
		st.Pending != 0 || st.Listen != td.listen || st.Mode != "proxy" || st.Started.IsZero() {
		t.Errorf("status header: %+v", st)
	}
	if len(st.Workers) != 2 {
		t.Fatalf("workers: %+v", st.Workers)
	}
	for i, w := range st.Workers {
		if w.ID != workerName(i+1) || w.Generation != 2 || w.PID == 0 || w.Port == 0 || w.State != "ready" ||
			w.UptimeSec <= 0 || w.RSSBytes != 1<<20 || !pidAlive(w.PID) {
			t.Errorf("worker %d: %+v", i, w)
		}
	}
	lr := st.LastReload
	if lr == nil || lr.Outcome != control.OutcomeAbandoned || lr.Generation != 4 || lr.Serving != 2 ||
		lr.Trigger != "control" || lr.Started.IsZero() || len(lr.LogTail) == 0 {
		t.Errorf("last reload: %+v", lr)
	}
	if m := st.Metrics; m.MemoryPercent != 40 || m.DiskPercent != 30 || m.ThresholdPercent != 80 || m.Degraded {
		t.Errorf("metrics: %+v", m)
	}
	if st.Heartbeat.Enabled || st.Log != nil {
		t.Errorf("heartbeat %+v, log %+v: neither is configured", st.Heartbeat, st.Log)
	}
}

// TestDaemonDegradedAndSingleInstance injects a memory reading over the
// threshold, then back under it; a second daemon for the app is refused
// while the first runs.
func TestDaemonDegradedAndSingleInstance(t *testing.T) {
	td := startDaemon(t, newTestApp(t, appSpec{workers: 1}))
	td.source.set(85)
	st := td.waitDaemonStatus(t, "degraded", func(s control.Status) bool { return s.State == control.StateDegraded })
	if len(st.DegradedReasons) == 0 || !strings.Contains(st.DegradedReasons[0], "memory") {
		t.Errorf("degraded reasons: %q", st.DegradedReasons)
	}
	td.source.set(50)
	td.waitDaemonStatus(t, "ready again", func(s control.Status) bool { return s.State == control.StateReady })
	var statuses []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, _, statuses = td.lifecycle(t); strings.Contains(strings.Join(statuses, "\n"), "degraded: generation 1, 1/1 workers ready; memory") {
			break
		}
	}
	if !strings.Contains(strings.Join(statuses, "\n"), "degraded: generation 1, 1/1 workers ready; memory") {
		t.Errorf("no STATUS= named the degraded reading: %q", statuses)
	}

	cfg, err := LoadConfig(td.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewDaemon(cfg, DaemonOptions{Stderr: &syncbuf.Buffer{}})
	if _, ok := errors.AsType[*control.AlreadyRunningError](err); !ok {
		t.Fatalf("second daemon: %v, want AlreadyRunningError", err)
	}
	if !strings.Contains(err.Error(), "already runs") {
		t.Errorf("second daemon error: %v", err)
	}
}

// TestDaemonRecoversStaleSocket starts a daemon where a crashed one left
// its socket file.
func TestDaemonRecoversStaleSocket(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1})
	sock := filepath.Join(a.root, "procmon.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left: %v", err)
	}
	td := startDaemon(t, a)
	st := td.waitDaemonStatus(t, "ready", func(s control.Status) bool { return s.State == control.StateReady })
	if st.Generation != 1 {
		t.Fatalf("status: %+v", st)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
}
