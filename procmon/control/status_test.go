package control

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/golden"
	"github.com/deploytool/deploy/procmon/metrics"
)

func knownStatus() Status {
	t0 := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	return Status{
		App: "vmblog", PID: 4242, State: StateDegraded, Generation: 3, Reloads: 2,
		Listen: "127.0.0.1:8080", Mode: "proxy", Dir: "/var/www/vmblog/releases/20261124T061502Z-3f9c2ab",
		Started: t0, Time: t0.Add(2*time.Hour + 5*time.Minute),
		Workers: []Worker{
			{ID: "w1", Generation: 3, PID: 5001, Port: 41001, State: "ready", Started: t0.Add(2 * time.Hour), Restarts: 0, RSSBytes: 48 << 20, CPUPercent: 1.5,
				Heartbeat: &WorkerHeartbeat{LastOK: t0.Add(2*time.Hour + 4*time.Minute + 55*time.Second)}},
			{ID: "w2", Generation: 3, PID: 5002, Port: 41002, State: "ready", Started: t0.Add(2*time.Hour + 4*time.Minute), Restarts: 2, RSSBytes: 51 << 20, CPUPercent: 85.25,
				Heartbeat: &WorkerHeartbeat{LastOK: t0.Add(2*time.Hour + 4*time.Minute + 45*time.Second), LastFailure: t0.Add(2*time.Hour + 4*time.Minute + 55*time.Second),
					LastError: "GET /: no answer within 10s", Failures: 1},
				Replacements: 1, LastReplaced: t0.Add(2*time.Hour + 4*time.Minute)},
			{ID: "w3", Generation: 3, State: "backoff", Restarts: 5, LastExit: "exit status 1 after 0.4s"},
		},
		LastReload: &ReloadResult{Outcome: OutcomeServed, Generation: 3, Serving: 3, Trigger: "restart-file",
			Started: t0.Add(2 * time.Hour), DurationMS: 2150},
		Heartbeat: Heartbeat{Enabled: true, PerWorker: true, URL: "http://127.0.0.1:8080/", Path: "/", LastCheck: t0.Add(2*time.Hour + 4*time.Minute + 55*time.Second),
			LastOK: false, LastResult: "worker 2: GET /: no answer within 10s", LatencyMS: 10000, Failures: 1, FailuresTotal: 4,
			ReloadsTriggered: 1, Replacements: 1, SuppressedByGuard: 2},
		Metrics: &Metrics{Time: t0.Add(2*time.Hour + 4*time.Minute + 30*time.Second), HostCPUPercent: 23.4, MemoryPercent: 61, DiskPercent: 47.9,
			DiskPath: "/var/www/vmblog", ThresholdPercent: 80, Degraded: true, Reasons: []string{"worker w2 cpu 85.2% >= 80%"},
			History: []MetricsPoint{{Time: t0.Add(2*time.Hour + 4*time.Minute), HostCPUPercent: 20, MemoryPercent: 60, DiskPercent: 47.9}}},
		DegradedReasons: []string{"worker w2 cpu 85.2% >= 80%"},
		Log:             &LogInfo{File: "/var/log/procmon/vmblog.log", MaxSizeBytes: 10 << 20, DroppedLines: 7},
	}
}

// TestStatusJSONShape pins the documented JSON field names.
func TestStatusJSONShape(t *testing.T) {
	s := knownStatus()
	s.fill(s.Time)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertFile(t, filepath.Join("testdata", "status.json.golden"), string(append(data, '\n')))
}

func TestStatusRender(t *testing.T) {
	s := knownStatus()
	s.fill(s.Time)
	var b bytes.Buffer
	if err := RenderStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	golden.AssertFile(t, filepath.Join("testdata", "status.txt.golden"), b.String())
	var empty bytes.Buffer
	if err := RenderStatus(&empty, Status{App: "new", State: StateStarting}); err != nil {
		t.Fatal(err)
	}
	golden.AssertFile(t, filepath.Join("testdata", "status-empty.txt.golden"), empty.String())
}

// TestStatusRenderSocketHeartbeat: in socket mode status names what the
// heartbeat checks: the public address and each worker's return to the
// shared socket, never a worker's port.
func TestStatusRenderSocketHeartbeat(t *testing.T) {
	s := knownStatus()
	s.Mode = "socket"
	s.fill(s.Time)
	var b bytes.Buffer
	if err := RenderStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	if want := "heartbeat: http://127.0.0.1:8080/ and each worker back on the shared socket failed"; !strings.Contains(b.String(), want) {
		t.Fatalf("status in socket mode:\n%s\nwant a line starting %q", b.String(), want)
	}
	if strings.Contains(b.String(), "saturated") {
		t.Errorf("status speaks of saturation with none counted:\n%s", b.String())
	}
	// checks not acted on because the app was saturated are counted
	s.Heartbeat.Saturated = 4
	b.Reset()
	if err := RenderStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	if want := "suppressed by guard 2; saturated, not acted on 4\n"; !strings.Contains(b.String(), want) {
		t.Errorf("status:\n%s\nwant %q", b.String(), want)
	}
}

// TestStatusOverSocket sends a known state through a real server and checks
// the client gets it back field for field, with uptimes derived.
func TestStatusOverSocket(t *testing.T) {
	want := knownStatus()
	_, c := startServer(t, &fakeHandler{status: want})
	got, err := c.Status(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want.fill(want.Time)
	if got.Workers[0].UptimeSec != 300 || got.Workers[2].UptimeSec != 0 {
		t.Errorf("uptimes %v %v, want 300 and 0 (not running)", got.Workers[0].UptimeSec, got.Workers[2].UptimeSec)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("status over the socket:\n got %s\nwant %s", g, w)
	}
}

func TestHuman(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "-"}, {1500 * time.Millisecond, "2s"}, {12*time.Minute + 3*time.Second, "12m3s"}, {5 * time.Minute, "5m"}, {10*time.Minute + 10*time.Second, "10m10s"},
		{3*time.Hour + 4*time.Minute + 20*time.Second, "3h4m"}, {53 * time.Hour, "2d5h"},
	}
	for _, tt := range tests {
		if got := human(tt.d); got != tt.want {
			t.Errorf("human(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestDegradedFromInjectedReadings drives a real Sampler with injected
// readings over the threshold and checks the status a client would see.
func TestDegradedFromInjectedReadings(t *testing.T) {
	src := &stepSource{total: 1000, busy: 100}
	sampler, err := metrics.New(metrics.Config{Source: src, Processes: func() []metrics.Process {
		return []metrics.Process{{ID: "w1", PID: 5001}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	sampler.Sample(time.Unix(0, 0))
	src.total, src.busy, src.ticks = 2000, 1000, 900 // 90% host, 180% of one core on 2 CPUs
	latest := sampler.Sample(time.Unix(30, 0))

	st := Status{App: "a", State: StateReady, Workers: []Worker{{ID: "w1", PID: 5001, State: "ready"}}}
	st.ApplySample(latest, sampler.History())
	_, c := startServer(t, &fakeHandler{status: st})
	got, err := c.Status(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateDegraded || !got.Metrics.Degraded || len(got.Metrics.History) != 1 {
		t.Fatalf("state %q metrics %+v", got.State, got.Metrics)
	}
	want := []string{"host cpu 90.0% >= 80%", "worker w1 cpu 180.0% >= 80%"}
	if !reflect.DeepEqual(got.DegradedReasons, want) {
		t.Fatalf("reasons %q, want %q", got.DegradedReasons, want)
	}
	if w := got.Workers[0]; w.RSSBytes != 64<<20 || w.CPUPercent != 180 {
		t.Fatalf("worker %+v", w)
	}
	crash := Status{State: StateCrashLoop}
	crash.ApplySample(latest, nil)
	if crash.State != StateCrashLoop {
		t.Fatalf("crash-loop overwritten by %q", crash.State)
	}
}

type stepSource struct{ total, busy, ticks uint64 }

func (s *stepSource) CPU() (metrics.CPUTimes, error) {
	return metrics.CPUTimes{Busy: s.busy, Total: s.total, CPUs: 2}, nil
}
func (s *stepSource) Memory() (metrics.Memory, error) {
	return metrics.Memory{TotalBytes: 16 << 30, AvailableBytes: 8 << 30}, nil
}
func (s *stepSource) Disk(string) (metrics.Disk, error) { return metrics.Disk{}, nil }
func (s *stepSource) Process(int) (metrics.ProcessTimes, error) {
	return metrics.ProcessTimes{CPUTicks: s.ticks, RSSBytes: 64 << 20}, nil
}

// TestStatusRenderServingNothing: a serving generation without a ready
// worker is said to serve nothing, as its clients get 503.
func TestStatusRenderServingNothing(t *testing.T) {
	s := Status{App: "new", State: StateCrashLoop, Generation: 1, Dir: "/srv/app/releases/r1",
		Workers: []Worker{{ID: "w1", Generation: 1, State: "exited"}}}
	var b bytes.Buffer
	if err := RenderStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	if want := "serving nothing (503): no worker of generation 1 is ready (/srv/app/releases/r1)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, b.String())
	}
}

// TestStatusRenderWaiting: before the first deploy the status says that
// procmon waits and what starts the workers, and a reload that found no
// dir names no generation.
func TestStatusRenderWaiting(t *testing.T) {
	s := Status{App: "new", State: StateWaiting, Reloads: 1, LastReload: &ReloadResult{Outcome: OutcomeAbandoned,
		Trigger: "control", Reason: "dir /srv/app/current does not exist yet: deploy first"}}
	var b bytes.Buffer
	if err := RenderStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"procmon new: waiting, generation 0",
		"\nserving nothing (503): waiting for the first deploy; a reload (procmon reload, the restart file, SIGHUP) starts the workers\n",
		"\nreload:    abandoned (control), took 0s, serving generation 0\n           reason: dir /srv/app/current does not exist yet: deploy first\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
