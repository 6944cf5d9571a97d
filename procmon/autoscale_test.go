package procmon

import (
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// TestWorkersRangeConfig: workers = "MIN..MAX" and [scale], read and
// refused with file, line and key.
func TestWorkersRangeConfig(t *testing.T) {
	base := "dir = \"/srv/app\"\ncommand = [\"app\"]\nlisten = \"127.0.0.1:8080\"\n"
	cfg, err := ParseConfig("app.toml", []byte(base+"workers = \"2..8\"\n[scale]\nup_inflight = 12\nwindow = \"10s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := ScaleConfig{UpInflight: 12, DownInflight: 1, Window: 10 * time.Second, Cooldown: 60 * time.Second, IdleTimeout: 5 * time.Minute}
	if cfg.Workers != 2 || cfg.WorkersMax != 8 || cfg.Scale != want {
		t.Fatalf("workers %d..%d, scale %+v", cfg.Workers, cfg.WorkersMax, cfg.Scale)
	}
	if cfg, err := ParseConfig("app.toml", []byte(base+"workers = \"3..3\"\nmode = \"socket\"\n")); err != nil || cfg.Workers != 3 || cfg.WorkersMax != 0 {
		t.Fatalf("3..3 is a fixed count: %+v %v", cfg, err)
	}
	if cfg, err := ParseConfig("app.toml", []byte(base+"workers = \"0..4\"\nmode = \"socket\"\n")); err != nil || cfg.Workers != 0 || cfg.WorkersMax != 4 {
		t.Fatalf("0..4 in socket mode (idle and wake): %+v %v", cfg, err)
	}
	if cfg, err := ParseConfig("app.toml", []byte(base+"workers = \"0..4\"\n[scale]\nidle_timeout = \"90s\"\n")); err != nil ||
		cfg.Workers != 0 || cfg.WorkersMax != 4 || cfg.Scale.IdleTimeout != 90*time.Second {
		t.Fatalf("0..4: %+v %v", cfg, err)
	}
	if _, err := ParseConfig("app.toml", []byte(base+"[scale]\nidle_timeout = \"0s\"\n")); err == nil ||
		!strings.Contains(err.Error(), `app.toml:5: key "scale.idle_timeout": "0s" must be more than zero`) {
		t.Fatalf("idle_timeout 0s: %v", err)
	}
	cases := []struct{ name, doc, want string }{
		{"socket mode", base + "mode = \"socket\"\nworkers = \"2..8\"\n", `app.toml:5: key "workers": "2..8": autoscale by load needs mode "proxy"`},
		{"idle in socket mode with a heartbeat", base + "mode = \"socket\"\nworkers = \"0..4\"\n[heartbeat]\ninterval = \"10s\"\n",
			`app.toml:7: key "heartbeat.interval": with workers = "0..4" in socket mode the app would never go idle`},
		{"idle in mode none", "dir = \"/srv/app\"\ncommand = [\"app\"]\nmode = \"none\"\nworkers = \"0..4\"\n", `app.toml:4: key "workers": "0..4": autoscale needs mode "proxy"`},
		{"reversed", base + "workers = \"8..2\"\n", `app.toml:4: key "workers": "8..2": want 0 <= MIN <= MAX <= 1024 and MAX >= 1`},
		{"zero max", base + "workers = \"0..0\"\n", `app.toml:4: key "workers": "0..0": want 0 <= MIN <= MAX <= 1024 and MAX >= 1`},
		{"not a range", base + "workers = \"two\"\n", `app.toml:4: key "workers": "two" is neither a count nor a range`},
		{"thresholds", base + "[scale]\nup_inflight = 1\ndown_inflight = 2\n", `app.toml:5: key "scale.up_inflight": up_inflight (1) must be more than zero and more than down_inflight (2)`},
		{"window", base + "[scale]\nwindow = \"soon\"\n", `app.toml:5: key "scale.window": "soon" is not a duration`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("app.toml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) || hint.Of(err) == "" {
				t.Fatalf("got %v (hint %q), want %q with a hint", err, hint.Of(err), tc.want)
			}
			if strings.Contains(tc.doc, "socket") && strings.Contains(tc.doc, "2..8") && !strings.Contains(hint.Of(err), `or "0..8" to sleep when idle`) {
				t.Fatalf("got %v (hint %q), want %q with a hint", err, hint.Of(err), tc.want)
			}
		})
	}
}

// TestAutoscalerDecisions: one more worker only after a whole window
// over up_inflight, one less after a whole window under down_inflight,
// nothing within cooldown or outside the bounds.
func TestAutoscalerDecisions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	a := &autoscaler{cfg: ScaleConfig{UpInflight: 10, DownInflight: 1, Window: 30 * time.Second, Cooldown: 60 * time.Second}}
	steps := []struct {
		at        float64
		per       float64
		workers   int
		want      int
		wantInWhy string
	}{
		{0, 12, 3, 0, ""},
		{15, 12, 3, 0, ""}, // over, not for a whole window yet
		{20, 5, 3, 0, ""},  // a dip ends the run
		{25, 12, 3, 0, ""}, // a new run starts
		{55, 14, 3, 4, "13 in flight per worker for 30s"},
		{90, 20, 4, 0, ""},  // within cooldown of the change
		{120, 20, 8, 0, ""}, // at the maximum
		{200, 0.2, 8, 0, ""},
		{230, 0.4, 8, 7, "0.3 in flight per worker for 30s"},
		{300, 0, 2, 0, ""},
		{400, 0, 2, 0, ""}, // at the minimum
	}
	for _, st := range steps {
		n, why := a.observe(at(st.at), st.per, st.workers, 2, 8)
		if n != st.want || !strings.Contains(why, st.wantInWhy) {
			t.Fatalf("at %gs, %g per worker on %d: got %d %q, want %d %q", st.at, st.per, st.workers, n, why, st.want, st.wantInWhy)
		}
	}
}

// TestAutoscaleFollowsALoadStep: workers = "1..3" under real HTTP load
// of slow requests grows to 3, each change logged with its reason and
// shown in status, and comes back to 1 once the load stops; no request
// fails.
func TestAutoscaleFollowsALoadStep(t *testing.T) {
	a := newTestApp(t, appSpec{scaleTo: "1..3", extra: "\n[scale]\nup_inflight = 2\ndown_inflight = 0.5\nwindow = \"1s\"\ncooldown = \"500ms\"\n"}).start()
	stop := startLoad(a.url("/slow?d=200ms"), 8, 5000, 40*time.Second)
	st := a.waitStatus(30*time.Second, "autoscaled to 3 ready workers", func(st Status) bool {
		ready, _ := servingWorkers(st)
		return ready == 3
	})
	up := st.Scale.Last
	res := stop()
	if up.Source != ScaleFromAutoscale || up.To != 3 || !strings.Contains(up.String(), "scaled 2 → 3: ") ||
		!strings.Contains(up.Reason, "in flight per worker for 1s") || st.Scale.Min != 1 || st.Scale.Max != 3 {
		t.Fatalf("status after the step: %+v", st.Scale)
	}
	st = a.waitWorkers(1)
	if st.Scale.Last.To != 1 || !strings.Contains(st.Scale.Last.Reason, "in flight per worker for 1s") {
		t.Fatalf("status after the load: %+v", st.Scale)
	}
	if out := a.out.String(); !strings.Contains(out, "scaled 1 → 2: ") || !strings.Contains(out, "scaled 2 → 1: ") {
		t.Fatalf("log lacks the decisions:\n%s", out)
	}
	if _, err := a.sup.Scale(t.Context(), 4); err == nil || !strings.Contains(err.Error(), "out of range 1..3") {
		t.Fatalf("procmon scale past MAX: %v", err)
	}
	t.Logf("%d requests ok, %d failed; %d scale events", res.ok, res.failed, st.Scale.Events)
	if res.failed != 0 {
		t.Fatalf("%d requests failed, first: %q", res.failed, res.errs)
	}
}
