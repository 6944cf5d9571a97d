package procmon

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// TestControlStatusFromKnownStatus converts a known supervisor Status and
// checks the documented JSON fields it becomes.
func TestControlStatusFromKnownStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	cfg := &Config{Name: "shop", Listen: "127.0.0.1:8080", Mode: ModeProxy, Heartbeat: Heartbeat{Path: "/up"}}
	st := Status{
		Name: "shop", State: StateReloading, Generation: 3, Pending: 4, Since: t0, Reloads: 2,
		Workers: []WorkerStatus{
			{ID: 1, Generation: 3, PID: 501, Port: 4001, State: WorkerReady, Started: t0.Add(time.Minute),
				Heartbeat:    WorkerHeartbeat{LastOK: t0.Add(-time.Minute), LastFailure: t0, LastError: "GET /up: 502 Bad Gateway", Failures: 2},
				Replacements: 1, LastReplaced: t0.Add(time.Minute)},
			{ID: 2, Generation: 3, PID: 502, State: WorkerExited, Started: t0, Restarts: 4, LastExit: "exited with status 1"},
		},
		LastReload: ReloadResult{At: t0.Add(time.Hour), Duration: 2500 * time.Millisecond, Trigger: "file", Generation: 3, OK: true},
		Heartbeat: HeartbeatStatus{Enabled: true, PerWorker: true, LastAt: t0, LastOK: false, LastError: "worker 1: GET /up: 502 Bad Gateway",
			Latency: 1500 * time.Microsecond, Failures: 2, ReloadsTriggered: 1, Replacements: 1, Suppressed: 5, Saturated: 3},
	}
	data, err := json.Marshal(ControlStatus(st, cfg))
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{
		`"app":"shop"`, fmt.Sprintf(`"pid":%d`, os.Getpid()), `"state":"reloading"`, `"generation":3`,
		`"pending_generation":4`, `"reloads":2`, `"listen":"127.0.0.1:8080"`, `"mode":"proxy"`,
		`{"id":"w1","generation":3,"pid":501,"port":4001,"state":"ready","started":"2026-11-24T06:01:00Z"`,
		`"heartbeat":{"last_ok":"2026-11-24T05:59:00Z","last_failure":"2026-11-24T06:00:00Z","last_error":"GET /up: 502 Bad Gateway","consecutive_failures":2},"replacements":1,"last_replaced":"2026-11-24T06:01:00Z"}`,
		`{"id":"w2","generation":3,"pid":0,"state":"exited","uptime_s":0,"restarts":4,"last_exit":"exited with status 1","rss_bytes":0,"cpu_percent":0,"replacements":0}`,
		`"last_reload":{"result":"served","generation":3,"serving_generation":3,"trigger":"restart-file","started":"2026-11-24T07:00:00Z","duration_ms":2500}`,
		`"heartbeat":{"enabled":true,"per_worker":true,"url":"http://127.0.0.1:8080/up","path":"/up","last_check":"2026-11-24T06:00:00Z","last_ok":false,"last_result":"worker 1: GET /up: 502 Bad Gateway","latency_ms":1.5,"consecutive_failures":2`,
		`"reloads_triggered":1,"replacements":1,"suppressed_by_guard":5,"saturated":3`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s\nin %s", want, got)
		}
	}
	// Socket mode: the public address is what is checked.
	st.Heartbeat.PerWorker = false
	socket := &Config{Name: "shop", Listen: "127.0.0.1:8080", Mode: ModeSocket, Heartbeat: Heartbeat{Path: "/up"}}
	if h := ControlStatus(st, socket).Heartbeat; h.PerWorker || h.URL != "http://127.0.0.1:8080/up" {
		t.Errorf("socket mode heartbeat %+v: want the public URL checked, not each worker", h)
	}
}

func TestControlReloadAbandoned(t *testing.T) {
	r := ControlReload(ReloadResult{Generation: 5, Trigger: "signal", Error: "worker 1: not ready within ready.timeout"}, 4)
	want := control.ReloadResult{Outcome: control.OutcomeAbandoned, Generation: 5, Serving: 4, Trigger: "sighup",
		Reason: "worker 1: not ready within ready.timeout"}
	if fmt.Sprint(r) != fmt.Sprint(want) || control.ExitCode(r, nil) != control.ExitAbandoned {
		t.Fatalf("got %+v, want %+v", r, want)
	}
}

func TestRecentLinesKeepsTheLastOfAGeneration(t *testing.T) {
	r := newRecentLines(8)
	for i := range 20 {
		fmt.Fprintf(r, "2026-11-24T06:00:00.000Z gen=%d worker=1 pid=9 | line %d\n", 1+i%2, i)
	}
	got := strings.Join(r.generation(2, 3), "|")
	want := "2026-11-24T06:00:00.000Z gen=2 worker=1 pid=9 | line 15|" +
		"2026-11-24T06:00:00.000Z gen=2 worker=1 pid=9 | line 17|2026-11-24T06:00:00.000Z gen=2 worker=1 pid=9 | line 19"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if n := len(r.generation(1, 100)); n != 4 {
		t.Fatalf("generation 1 kept %d lines of the last 8, want 4", n)
	}
	if len(r.generation(12, 5)) != 0 {
		t.Fatal("gen=12 must not match gen=1")
	}
}

func TestSummary(t *testing.T) {
	st := control.Status{State: "degraded", Generation: 2, Workers: []control.Worker{
		{Generation: 2, State: "ready"}, {Generation: 2, State: "starting"}, {Generation: 3, State: "ready"}},
		LastReload:      &control.ReloadResult{Outcome: control.OutcomeAbandoned, Generation: 3, Reason: "worker 1 crashed"},
		DegradedReasons: []string{"memory 91.0% >= 80%"}}
	want := "degraded: generation 2, 1/2 workers ready; reload of generation 3 abandoned: worker 1 crashed; memory 91.0% >= 80%"
	if got := summary(st); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
