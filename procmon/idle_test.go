package procmon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIdleAppWakesOnRequest: workers = "0..2" starts idle (no worker);
// a request is held while a worker starts, then served; after
// idle_timeout without requests every worker stops again; a worker that
// fails to start on a wake gives 503 after ready.timeout, not a hang.
func TestIdleAppWakesOnRequest(t *testing.T) {
	a := newTestApp(t, appSpec{scaleTo: "0..2", env: map[string]string{"PMT_BOOT_DELAY": "300ms"},
		backoff: Backoff{Initial: 100 * time.Millisecond},
		extra:   "\n[scale]\nidle_timeout = \"1s\"\nwindow = \"1s\"\n[ready]\ntimeout = \"3s\"\n"})
	a.launch()
	a.waitState(StateIdle, 20*time.Second)

	for round := 1; round <= 2; round++ {
		start := time.Now()
		code, worker, body, err := get(httpClient(), a.url("/"))
		took := time.Since(start)
		if err != nil || code != 200 || !strings.Contains(worker, "worker=1 ") {
			t.Fatalf("round %d: request to the idle app: %d %q %q %v\n%s", round, code, worker, body, err, a.out)
		}
		if took < 300*time.Millisecond {
			t.Fatalf("round %d: answered in %s, before the worker could boot: not held?", round, took)
		}
		t.Logf("round %d: first request answered in %s", round, took)
		st := a.sup.Status()
		if st.Scale.Last.From != 0 || st.Scale.Last.To != 1 || st.Scale.Last.Reason != "a request woke the idle app" {
			t.Fatalf("round %d: last scale event %+v", round, st.Scale.Last)
		}
		st = a.waitState(StateIdle, 20*time.Second)
		if !strings.Contains(st.Scale.Last.Reason, "no request for 1s: idle") || st.Scale.Last.To != 0 {
			t.Fatalf("round %d: idle again, but last scale event %+v", round, st.Scale.Last)
		}
	}

	a.touch() // a reload while idle has nothing to start: it switches at once
	st := a.waitStatus(20*time.Second, "reload while idle", func(st Status) bool { return st.Reloads == 1 })
	if !st.LastReload.OK || st.Generation != 2 || st.State != StateIdle {
		t.Fatalf("reload while idle: %+v, generation %d, state %s", st.LastReload, st.Generation, st.State)
	}
	if code, worker, _, err := get(httpClient(), a.url("/")); code != 200 || !strings.Contains(worker, "gen=2 worker=1 ") {
		t.Fatalf("request after the reload while idle: %d %q %v", code, worker, err)
	}
	a.waitState(StateIdle, 20*time.Second)

	if err := os.WriteFile(filepath.Join(a.release, "crash"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, body, err := get(httpClient(), a.url("/"))
	if err != nil || code != 503 || time.Since(start) > 10*time.Second {
		t.Fatalf("wake with a worker that cannot start: %d %q %v after %s", code, body, err, time.Since(start))
	}
	if !strings.Contains(a.out.String(), `msg="worker crashed"`) || !strings.Contains(a.out.String(), "the idle app was woken for this request, but no worker was ready") {
		t.Fatalf("no log line says why:\n%s", a.out)
	}
}
