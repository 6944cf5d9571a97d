package procmon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/procmon/control"
	"github.com/deploytool/deploy/procmon/promtext"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsListenConfig: [metrics] listen, read and refused with file,
// line and key.
func TestMetricsListenConfig(t *testing.T) {
	base := "dir = \"/srv/app\"\ncommand = [\"app\"]\nlisten = \"127.0.0.1:8080\"\n"
	cfg, err := ParseConfig("app.toml", []byte(base))
	if err != nil || cfg.Metrics.Listen != "" {
		t.Fatalf("off by default: %+v %v", cfg.Metrics, err)
	}
	for _, ok := range []string{"127.0.0.1:9464", ":9464", "[::1]:9464", "metrics.internal:9464", "127.0.0.1:8081"} {
		cfg, err := ParseConfig("app.toml", []byte(base+"[metrics]\nlisten = \""+ok+"\"\n"))
		if err != nil || cfg.Metrics.Listen != ok {
			t.Errorf("%s: %+v %v", ok, cfg, err)
		}
	}
	cases := []struct{ name, listen, want string }{
		{"no port", "127.0.0.1", `app.toml:5: key "metrics.listen": "127.0.0.1": no port`},
		{"port not a number", "127.0.0.1:http", `"127.0.0.1:http": port "http" is not a number`},
		{"port out of range", "127.0.0.1:70000", `key "metrics.listen": port 70000 is not usable`},
		{"bad host", "a b:9464", `host "a b" is neither an IP address nor a host name`},
		{"the app's port", "127.0.0.1:8080", `"127.0.0.1:8080" is the app's listen address`},
		{"the app's port on every address", ":8080", `":8080" is the app's listen address`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("app.toml", []byte(base+"[metrics]\nlisten = \""+tc.listen+"\"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) || hint.Of(err) == "" {
				t.Fatalf("got %v (hint %q), want %q with a hint", err, hint.Of(err), tc.want)
			}
		})
	}
	if _, err := ParseConfig("app.toml", []byte(base+"[metrics]\nport = 9464\n")); err == nil || !strings.Contains(err.Error(), `unknown key "metrics.port"`) {
		t.Fatalf("unknown key: %v", err)
	}
}

// scrape is one GET /metrics, read by promtext's strict parser and by
// Prometheus's own (expfmt), which must agree.
type scrape map[string]promtext.Family

func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	fams, err := promtext.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("not the text format: %v\n%s", err, body)
	}
	tp := expfmt.NewTextParser(model.LegacyValidation)
	ref, err := tp.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses it: %v\n%s", err, body)
	}
	out := scrape{}
	for _, f := range fams {
		r := ref[f.Name]
		if r == nil || len(r.GetMetric()) != len(f.Samples) || !strings.EqualFold(r.GetType().String(), string(f.Type)) || r.GetHelp() != f.Help {
			t.Fatalf("the two parsers disagree on %s: %+v against %v", f.Name, f, r)
		}
		out[f.Name] = f
	}
	if len(ref) != len(fams) {
		t.Fatalf("Prometheus's parser read %d families, promtext %d", len(ref), len(fams))
	}
	return out
}

// value is the sample of name with exactly these labels (name, value
// pairs); it fails the test when there is none.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.lookup(name, labels...)
	if !ok {
		t.Fatalf("no sample %s%v; the family: %+v", name, labels, s[name])
	}
	return v
}

func (s scrape) lookup(name string, labels ...string) (float64, bool) {
	for _, smp := range s[name].Samples {
		if len(smp.Labels)*2 != len(labels) {
			continue
		}
		match := true
		for i, l := range smp.Labels {
			match = match && l.Name == labels[2*i] && l.Value == labels[2*i+1]
		}
		if match {
			return smp.Value, true
		}
	}
	return 0, false
}

// TestMetricsEndpointFollowsTheApp scrapes a real daemon over real
// workers and checks that every counter moves with what happened: each
// request of a bounded load counted once, requests in flight seen
// during it, a served and an abandoned reload, a scale up, a worker
// killed and restarted (still counted after the next reload), in
// Prometheus's own text format.
func TestMetricsEndpointFollowsTheApp(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	maddr := fmt.Sprintf("127.0.0.1:%d", port)
	a := newTestApp(t, appSpec{workers: 2, backoff: Backoff{Initial: 50 * time.Millisecond},
		extra: fmt.Sprintf("\n[metrics]\nlisten = %q\n", maddr)})
	td := startDaemon(t, a)
	if td.d.MetricsAddr() != maddr {
		t.Fatalf("MetricsAddr %q", td.d.MetricsAddr())
	}
	m := scrapeMetrics(t, maddr)
	if m.value(t, "procmon_info", "app", "testapp", "mode", "proxy", "version", m["procmon_info"].Samples[0].Labels[2].Value) != 1 ||
		m.value(t, "procmon_state", "state", "ready") != 1 || m.value(t, "procmon_state", "state", "idle") != 0 ||
		m.value(t, "procmon_workers", "state", "ready") != 2 || m.value(t, "procmon_requests_total") != 0 ||
		m.value(t, "procmon_generation") != 1 || m.value(t, "procmon_worker_restarts_total", "worker", "2") != 0 {
		t.Fatalf("at start: %+v", m)
	}

	stop := startLoad(a.url("/slow?d=50ms"), 4, 400, 30*time.Second)
	inFlight, scrapes := 0.0, 0 // the most seen at once, scraping under load for 1.5s
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); scrapes++ {
		inFlight = max(inFlight, scrapeMetrics(t, maddr).value(t, "procmon_requests_in_flight"))
		time.Sleep(20 * time.Millisecond)
	}
	res := stop()
	m = scrapeMetrics(t, maddr)
	if inFlight == 0 || res.failed != 0 || m.value(t, "procmon_requests_total") != float64(res.ok) ||
		m.value(t, "procmon_error_responses_total", "code", "503") != 0 || m.value(t, "procmon_requests_in_flight") != 0 {
		t.Fatalf("after %d requests (%d failed): in flight seen %g, %+v, %+v", res.ok, res.failed, inFlight, m["procmon_requests_total"], m["procmon_requests_in_flight"])
	}
	t.Logf("%d requests counted; at most %g in flight over %d scrapes", res.ok, inFlight, scrapes)

	if r := td.reload(t); r.Outcome != control.OutcomeServed {
		t.Fatalf("reload: %+v", r)
	}
	crash := filepath.Join(a.release, "crash")
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := td.reload(t); r.Outcome != control.OutcomeAbandoned {
		t.Fatalf("a reload into a worker that crashes at boot: %+v", r)
	}
	os.Remove(crash)
	m = scrapeMetrics(t, maddr)
	if m.value(t, "procmon_reloads_total", "outcome", "served") != 1 || m.value(t, "procmon_reloads_total", "outcome", "abandoned") != 1 ||
		m.value(t, "procmon_generation") != 2 {
		t.Fatalf("after a served and an abandoned reload: %+v %+v", m["procmon_reloads_total"], m["procmon_generation"])
	}

	a.scale(3)
	st := a.waitWorkers(3)
	m = scrapeMetrics(t, maddr)
	if m.value(t, "procmon_scale_events_total", "direction", "up") != 1 || m.value(t, "procmon_scale_events_total", "direction", "down") != 0 ||
		m.value(t, "procmon_workers_desired") != 3 || m.value(t, "procmon_workers", "state", "ready") != 3 ||
		m.value(t, "procmon_worker_requests_in_flight", "worker", "3") != 0 {
		t.Fatalf("after scale 3: %+v", m)
	}

	var pid int
	for _, w := range st.Workers {
		if w.ID == 2 && w.Generation == st.Generation && w.State == WorkerReady {
			pid = w.PID
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	a.waitStatus(20*time.Second, "worker 2 restarted", func(st Status) bool {
		ready, _ := servingWorkers(st)
		return st.Totals.Restarts[2] == 1 && ready == 3
	})
	m = scrapeMetrics(t, maddr)
	if m.value(t, "procmon_worker_restarts_total", "worker", "2") != 1 || m.value(t, "procmon_worker_restarts_total", "worker", "1") != 0 ||
		m.value(t, "procmon_worker_restarts_total", "worker", "3") != 0 {
		t.Fatalf("after worker 2 was killed: %+v", m["procmon_worker_restarts_total"])
	}
	if _, ok := m.lookup("procmon_worker_start_time_seconds", "worker", "2"); !ok {
		t.Fatalf("no start time for worker 2: %+v", m["procmon_worker_start_time_seconds"])
	}
	if r := td.reload(t); r.Outcome != control.OutcomeServed {
		t.Fatalf("reload: %+v", r)
	}
	m = scrapeMetrics(t, maddr) // a counter never goes back: the new generation's slots start afresh, the count does not
	if m.value(t, "procmon_worker_restarts_total", "worker", "2") != 1 || m.value(t, "procmon_reloads_total", "outcome", "served") != 2 {
		t.Fatalf("after another reload: %+v", m["procmon_worker_restarts_total"])
	}
	// status --json carries the same totals (the control socket's shape)
	td.waitDaemonStatus(t, "the totals in status", func(cs control.Status) bool {
		tot := cs.Totals
		return tot != nil && tot.ReloadsServed == 2 && tot.ReloadsAbandoned == 1 && tot.ScaledUp == 1 &&
			tot.Restarts["w2"] == 1 && tot.Requests > 0 && float64(tot.Requests) == m.value(t, "procmon_requests_total")
	})
	td.waitDaemonStatus(t, "a metrics sample", func(cs control.Status) bool { return cs.Metrics != nil })
	m = scrapeMetrics(t, maddr)
	if m.value(t, "procmon_host_memory_ratio") != 0.4 || m.value(t, "procmon_degraded") != 0 ||
		m.value(t, "procmon_worker_resident_memory_bytes", "worker", "1") != 1<<20 {
		t.Fatalf("sample: %+v %+v", m["procmon_host_memory_ratio"], m["procmon_worker_resident_memory_bytes"])
	}

	for _, c := range []struct {
		method, path string
		code         int
	}{{"GET", "/", 404}, {"GET", "/metrics/x", 404}, {"POST", "/metrics", 405}, {"HEAD", "/metrics", 200}} {
		req, _ := http.NewRequest(c.method, "http://"+maddr+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != c.code {
			t.Fatalf("%s %s: %v %v, want %d", c.method, c.path, resp, err, c.code)
		}
		resp.Body.Close()
	}
}

// TestMetricsPortTakenFailsTheStart: a [metrics] listen already in use
// stops procmon at start with the key in the message.
func TestMetricsPortTakenFailsTheStart(t *testing.T) {
	l, err := listenPublic("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := newTestApp(t, appSpec{workers: 1, extra: fmt.Sprintf("\n[metrics]\nlisten = %q\n", l.Addr())})
	cfg, err := LoadConfig(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewDaemon(cfg, DaemonOptions{Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), `key "metrics.listen": cannot listen on `+l.Addr().String()) || hint.Of(err) == "" {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(cfg.Socket); !os.IsNotExist(err) {
		t.Fatalf("control socket left behind: %v", err)
	}
}
