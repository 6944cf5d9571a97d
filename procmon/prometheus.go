package procmon

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/deploytool/deploy/internal/version"
	"github.com/deploytool/deploy/procmon/control"
	"github.com/deploytool/deploy/procmon/promtext"
)

// The Prometheus endpoint ([metrics] listen) shows the supervisor's
// snapshot and the daemon's latest resource sample as metric families.
// Counters come from Status.Totals and so only grow while procmon runs,
// across reloads and scaling; per-worker series are labelled worker with
// the WORKER_ID and cover the serving generation. Families that do not
// apply (the proxy's in socket mode, the heartbeat's when it is off, the
// sample's before the first) are left out rather than shown as zero.

// appStates are the values of procmon_state's state label: every state
// `procmon status` may show.
var appStates = []string{control.StateStarting, control.StateReady, control.StateReloading, control.StateDegraded,
	control.StateCrashLoop, control.StateStopping, control.StateStopped, control.StateWaiting, control.StateIdle}

// workerStates are the values of procmon_workers' state label.
var workerStates = []WorkerState{WorkerStarting, WorkerReady, WorkerDraining, WorkerStopping, WorkerExited}

// metricFamilies renders a snapshot (st), its control form with the
// latest sample (cs) and the config as metric families.
func metricFamilies(st Status, cs control.Status, cfg *Config) []promtext.Family {
	m := &familyList{}
	info := m.gauge("procmon_info", "procmon's app, mode and version; always 1.")
	info.Add(1, "app", st.Name, "mode", string(cfg.Mode), "version", version.String())
	m.gauge("procmon_start_time_seconds", "When procmon started serving the app, in seconds since the Unix epoch.").Add(unixSeconds(st.Since))
	state := m.gauge("procmon_state", "The app's state as procmon status shows it: 1 for the current one, 0 for the others.")
	for _, s := range appStates {
		state.Add(boolValue(cs.State == s), "state", s)
	}
	m.gauge("procmon_generation", "The generation serving traffic (0 before the first).").Add(float64(st.Generation))
	m.requests(st, cfg)
	m.workers(st, cs)
	reloads := m.counter("procmon_reloads_total", "Reloads finished since procmon started, by verdict: served (the new generation took over) or abandoned (the old one kept serving).")
	reloads.Add(float64(st.Totals.ReloadsServed), "outcome", string(control.OutcomeServed))
	reloads.Add(float64(st.Totals.ReloadsAbandoned), "outcome", string(control.OutcomeAbandoned))
	if !st.LastReload.At.IsZero() {
		m.gauge("procmon_last_reload_duration_seconds", "How long the last reload took to switch or to give up.").Add(st.LastReload.Duration.Seconds())
	}
	m.scale(st)
	m.heartbeat(st.Heartbeat)
	m.sample(cs)
	if cs.Log != nil {
		m.counter("procmon_log_dropped_lines_total", "Worker output lines the log file could not take (disk full or unwritable).").Add(float64(cs.Log.DroppedLines))
	}
	return m.fams
}

// familyList builds families in order; each method returns the family
// just added, for its samples.
type familyList struct{ fams []promtext.Family }

func (m *familyList) add(name, help string, t promtext.Type) *promtext.Family {
	m.fams = append(m.fams, promtext.Family{Name: name, Help: help, Type: t})
	return &m.fams[len(m.fams)-1]
}

func (m *familyList) gauge(name, help string) *promtext.Family {
	return m.add(name, help, promtext.Gauge)
}

func (m *familyList) counter(name, help string) *promtext.Family {
	return m.add(name, help, promtext.Counter)
}

// requests: the proxy's counts; only procmon's proxy sees requests.
func (m *familyList) requests(st Status, cfg *Config) {
	if cfg.Mode != ModeProxy {
		return
	}
	t := st.Totals
	m.counter("procmon_requests_total", "Requests the proxy went to give a worker, each counted once whatever its answer.").Add(float64(t.Requests))
	errs := m.counter("procmon_error_responses_total", "Requests procmon answered itself because no worker could: 503 no worker was ready (or an idle app did not wake in time), 502 the worker failed the request.")
	errs.Add(float64(t.BadGateway), "code", "502")
	errs.Add(float64(t.NoWorker), "code", "503")
	var total int64
	per := m.gauge("procmon_worker_requests_in_flight", "Requests the proxy has on each worker of the serving generation, streamed answers and upgraded connections included.")
	long := m.gauge("procmon_worker_long_lived_connections", "Upgraded connections (WebSocket) and streamed answers open through the proxy, per worker of the serving generation.")
	for _, w := range st.Workers {
		total += w.InFlight
		if w.Generation == st.Generation && w.State != WorkerExited {
			per.Add(float64(w.InFlight), "worker", strconv.Itoa(w.ID))
			long.Add(float64(w.LongLived), "worker", strconv.Itoa(w.ID))
		}
	}
	m.gauge("procmon_requests_in_flight", "Requests the proxy has on workers of any generation (draining ones included).").Add(float64(total))
}

// workers: counts by state, the scaled count, and per-worker series.
func (m *familyList) workers(st Status, cs control.Status) {
	byState := m.gauge("procmon_workers", "Worker processes by state, every generation counted (a reload runs two).")
	for _, s := range workerStates {
		n := 0
		for _, w := range st.Workers {
			if w.State == s {
				n++
			}
		}
		byState.Add(float64(n), "state", s.String())
	}
	m.gauge("procmon_workers_desired", "The worker count the serving generation keeps (set by the config, procmon scale or the autoscaler).").Add(float64(st.Scale.Workers))
	if st.Scale.Max > 0 {
		m.gauge("procmon_workers_min", "MIN of workers = \"MIN..MAX\".").Add(float64(st.Scale.Min))
		m.gauge("procmon_workers_max", "MAX of workers = \"MIN..MAX\".").Add(float64(st.Scale.Max))
	}
	restarts := maps.Clone(st.Totals.Restarts)
	if restarts == nil {
		restarts = map[int]int{}
	}
	started := m.gauge("procmon_worker_start_time_seconds", "When each live worker of the serving generation started, in seconds since the Unix epoch.")
	for _, w := range st.Workers {
		if w.Generation != st.Generation {
			continue
		}
		restarts[w.ID] += 0 // a slot that never crashed shows 0
		if w.State != WorkerExited && w.PID != 0 {
			started.Add(unixSeconds(w.Started), "worker", strconv.Itoa(w.ID))
		}
	}
	rc := m.counter("procmon_worker_restarts_total", "Restarts after a crash, by WORKER_ID, over every generation since procmon started.")
	for _, id := range slices.Sorted(maps.Keys(restarts)) {
		rc.Add(float64(restarts[id]), "worker", strconv.Itoa(id))
	}
	rss := m.gauge("procmon_worker_resident_memory_bytes", "Resident memory of each worker process of the serving generation, at the last sample.")
	cpu := m.gauge("procmon_worker_cpu_ratio", "CPU use of each worker process of the serving generation over the last sample interval, in cores (1 = one core busy).")
	for _, w := range cs.Workers {
		if w.Generation != cs.Generation || w.PID == 0 || cs.Metrics == nil {
			continue
		}
		id := w.ID[1:] // "w3" → "3"
		rss.Add(float64(w.RSSBytes), "worker", id)
		cpu.Add(w.CPUPercent/100, "worker", id)
	}
}

// scale: changes of the count and an idle app's wake-ups.
func (m *familyList) scale(st Status) {
	t := st.Totals
	ev := m.counter("procmon_scale_events_total", "Changes of the worker count, by direction, whoever made them (procmon scale, the autoscaler, idle and wake).")
	ev.Add(float64(t.ScaledUp), "direction", "up")
	ev.Add(float64(t.ScaledDown), "direction", "down")
	m.counter("procmon_idle_wakeups_total", "Times a request (proxy mode) or a connection (socket mode) woke an idle app (workers = \"0..N\").").Add(float64(t.Wakeups))
	m.counter("procmon_idle_wake_failures_total", "Wake-ups after which no worker was ready within ready.timeout: the waiting clients got 503.").Add(float64(t.WakeFailures))
}

func (m *familyList) heartbeat(h HeartbeatStatus) {
	if !h.Enabled {
		return
	}
	m.counter("procmon_heartbeat_failures_total", "Failed heartbeat checks since procmon started.").Add(float64(h.FailuresTotal))
	m.counter("procmon_heartbeat_reloads_total", "Reloads the heartbeat asked for (every worker failing at once).").Add(float64(h.ReloadsTriggered))
	m.counter("procmon_heartbeat_replacements_total", "Hung workers the heartbeat replaced one by one.").Add(float64(h.Replacements))
	if !h.LastAt.IsZero() {
		m.gauge("procmon_heartbeat_latency_seconds", "Duration of the last heartbeat check (its slowest probe).").Add(h.Latency.Seconds())
	}
}

// sample: the host readings of the latest resource sample.
func (m *familyList) sample(cs control.Status) {
	s := cs.Metrics
	if s == nil {
		return
	}
	m.gauge("procmon_host_cpu_ratio", "Host CPU in use over the last sample interval, as a fraction of all CPUs.").Add(s.HostCPUPercent / 100)
	m.gauge("procmon_host_memory_ratio", "Host memory in use (total less available), as a fraction of the total.").Add(s.MemoryPercent / 100)
	if s.DiskPath != "" {
		m.gauge("procmon_disk_used_ratio", "Space in use on the app's filesystem, as df counts it.").Add(s.DiskPercent/100, "path", s.DiskPath)
	}
	m.gauge("procmon_degraded", "1 when a reading of the last sample is at or over the threshold (status shows degraded), else 0.").Add(boolValue(s.Degraded))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds is t in seconds since the epoch, with its fraction; 0 for
// the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
