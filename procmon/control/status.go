package control

import "time"

// App states, as Status.State reports them.
const (
	StateStarting  = "starting"
	StateReady     = "ready"
	StateReloading = "reloading"
	StateDegraded  = "degraded"
	StateCrashLoop = "crash-loop"
	StateStopping  = "stopping"
	StateStopped   = "stopped"
	// StateWaiting: procmon started before the first deploy (its dir did
	// not exist) and no generation ran since: the port answers 503 and a
	// reload starts the workers.
	StateWaiting = "waiting"
	// StateIdle: workers = "0..N" and no request came for idle_timeout:
	// no worker runs, and the next request is held while one starts.
	StateIdle = "idle"
)

// Status is the daemon's view of its app, the answer to OpStatus and the
// output of `procmon status --json`.
type Status struct {
	// App is the app's name from the config.
	App string `json:"app"`
	// PID is procmon's own pid.
	PID int `json:"pid"`
	// State is one of the State… constants.
	State string `json:"state"`
	// Generation is the generation serving (0 before the first is up, and
	// while waiting for the first deploy).
	Generation int `json:"generation"`
	// Pending is the generation a reload is starting, 0 when none.
	Pending int `json:"pending_generation,omitempty"`
	// Dir is the directory the serving generation runs in: the config's
	// dir as it resolved when that generation started, so with dir a
	// `current` symlink it names the release procmon serves, whatever
	// current points at now. "" before the first generation started. Its
	// workers in state "ready" are those that take traffic: with none the
	// app answers 503.
	Dir string `json:"dir,omitempty"`
	// Reloads counts finished reloads, served or abandoned.
	Reloads int `json:"reloads"`
	// Listen and Mode echo the config.
	Listen string `json:"listen,omitempty"`
	Mode   string `json:"mode,omitempty"`
	// Started is when procmon started; Time is when this snapshot was taken
	// (filled by the server when zero).
	Started time.Time `json:"started,omitzero"`
	Time    time.Time `json:"time,omitzero"`
	// Workers lists the workers of every live generation.
	Workers []Worker `json:"workers"`
	// LastReload is the most recent finished reload; nil before any.
	LastReload *ReloadResult `json:"last_reload,omitempty"`
	// Heartbeat reports the heartbeat checks.
	Heartbeat Heartbeat `json:"heartbeat"`
	// Scale is the worker count and where it came from; nil from a
	// daemon that does not report it.
	Scale *Scale `json:"scale,omitempty"`
	// Metrics is the latest host sample; nil before the first.
	Metrics *Metrics `json:"metrics,omitempty"`
	// DegradedReasons says why State is degraded (or would be).
	DegradedReasons []string `json:"degraded_reasons,omitempty"`
	// Log describes the captured log; nil when not logging to a file.
	Log *LogInfo `json:"log,omitempty"`
	// Totals counts what happened since procmon started (they only grow,
	// across reloads and scaling: the metrics endpoint's counters); nil
	// from a daemon that does not report them.
	Totals *Totals `json:"totals,omitempty"`
}

// Totals are counts since procmon started.
type Totals struct {
	// Requests is the requests the proxy gave a worker (proxy mode);
	// NoWorker and BadGateway, those it answered 503 (no worker ready) or
	// 502 (the worker failed) itself.
	Requests   uint64 `json:"requests"`
	NoWorker   uint64 `json:"no_worker"`
	BadGateway uint64 `json:"bad_gateway"`
	// Restarts counts crash restarts by WORKER_ID, over every generation.
	Restarts map[string]int `json:"restarts,omitempty"`
	// ReloadsServed and ReloadsAbandoned count finished reloads by verdict.
	ReloadsServed    int `json:"reloads_served"`
	ReloadsAbandoned int `json:"reloads_abandoned"`
	// ScaledUp and ScaledDown count worker count changes by direction.
	ScaledUp   int `json:"scaled_up"`
	ScaledDown int `json:"scaled_down"`
	// Wakeups counts the wakes of an idle app; WakeFailures those after
	// which no worker was ready within ready.timeout.
	Wakeups      int `json:"wakeups"`
	WakeFailures int `json:"wake_failures"`
}

// Worker is one worker process.
type Worker struct {
	// ID is the worker id (WORKER_ID), Generation its generation.
	ID         string `json:"id"`
	Generation int    `json:"generation"`
	// PID is 0 while the worker is not running (e.g. in backoff).
	PID int `json:"pid"`
	// Port is its private port in proxy mode, 0 otherwise.
	Port int `json:"port,omitempty"`
	// State is the worker's state, e.g. "starting", "ready", "draining",
	// "backoff", "stopped".
	State string `json:"state"`
	// Started is when the current process started; UptimeSec derives from
	// it (filled by the server when zero).
	Started   time.Time `json:"started,omitzero"`
	UptimeSec float64   `json:"uptime_s"`
	// Restarts counts crash restarts of this worker slot.
	Restarts int `json:"restarts"`
	// LastExit describes the slot's last crash ("exit status 1 after
	// 0.4s"); empty when none.
	LastExit string `json:"last_exit,omitempty"`
	// RSSBytes and CPUPercent come from the latest metrics sample (CPU in
	// percent of one core); zero before the first.
	RSSBytes   uint64  `json:"rss_bytes"`
	CPUPercent float64 `json:"cpu_percent"`
	// Heartbeat is the heartbeat's record of this process, checked on its
	// own port (proxy mode); nil when it was never checked.
	Heartbeat *WorkerHeartbeat `json:"heartbeat,omitempty"`
	// Replacements counts the times the heartbeat replaced this worker
	// slot's process because it hung; LastReplaced is the last one.
	Replacements int       `json:"replacements"`
	LastReplaced time.Time `json:"last_replaced,omitzero"`
	// LongLived counts the upgraded connections (WebSocket) and the
	// answers streaming without a length (event streams) open through the
	// proxy to this worker (proxy mode).
	LongLived int `json:"long_lived,omitempty"`
	// InFlight is the requests the proxy has on this worker now (proxy
	// mode).
	InFlight int64 `json:"in_flight,omitempty"`
}

// WorkerHeartbeat is the heartbeat's record of one worker process.
type WorkerHeartbeat struct {
	// LastOK and LastFailure are when its last passed and last failed
	// checks ran; zero when none.
	LastOK      time.Time `json:"last_ok,omitzero"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	// LastError says why the last check failed; "" when it passed.
	LastError string `json:"last_error,omitempty"`
	// Failures counts its failed checks in a row: at 2 the worker is
	// replaced (see the procmon package doc).
	Failures int `json:"consecutive_failures"`
}

// Heartbeat reports the periodic health check. A check is one round: in
// proxy mode every ready worker on its own port (PerWorker; each worker's
// record is in Worker.Heartbeat), in socket mode the public address and,
// with PerWorker, every ready worker watched coming back to the shared
// socket.
type Heartbeat struct {
	// Enabled is false when the config turns heartbeats off.
	Enabled bool `json:"enabled"`
	// PerWorker is true when each worker is checked on its own: on its
	// own port (proxy mode), or watched coming back to the shared socket
	// (socket mode).
	PerWorker bool `json:"per_worker"`
	// URL is the public address and Path; the public address itself is
	// checked in socket mode, and in proxy mode when no worker is ready.
	// Path is what every GET asks for.
	URL  string `json:"url,omitempty"`
	Path string `json:"path,omitempty"`
	// LastCheck is when the last check finished; zero before the first.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastOK and LastResult describe it ("ok", or each failure, e.g.
	// "worker 2: GET /: no answer within 10s").
	LastOK     bool   `json:"last_ok"`
	LastResult string `json:"last_result,omitempty"`
	// LatencyMS is how long the last check took (its slowest probe).
	LatencyMS float64 `json:"latency_ms"`
	// Failures counts consecutive failures; FailuresTotal all of them.
	Failures      int `json:"consecutive_failures"`
	FailuresTotal int `json:"failures_total"`
	// ReloadsTriggered counts reloads the heartbeat started (every check
	// of a round failed); Replacements counts hung workers it replaced
	// one by one; SuppressedByGuard counts failures that did neither
	// because they came within the guard of a start, reload or
	// replacement, or during a reload.
	ReloadsTriggered  int `json:"reloads_triggered"`
	Replacements      int `json:"replacements"`
	SuppressedByGuard int `json:"suppressed_by_guard"`
	// Saturated counts failures not acted on because the app was
	// saturated, not hung: in socket mode the public address's check
	// timed out behind clients waiting to be accepted while every worker
	// passed its own.
	Saturated int `json:"saturated,omitempty"`
}

// Metrics is the latest host sample and the short history before it.
type Metrics struct {
	// Time is when the sample was taken.
	Time time.Time `json:"time"`
	// Host readings in percent.
	HostCPUPercent float64 `json:"host_cpu_percent"`
	MemoryPercent  float64 `json:"memory_percent"`
	DiskPercent    float64 `json:"disk_percent"`
	// DiskPath is the path whose filesystem DiskPercent measures.
	DiskPath string `json:"disk_path,omitempty"`
	// ThresholdPercent is the level at which a reading marks the app
	// degraded.
	ThresholdPercent float64 `json:"threshold_percent"`
	// Degraded is true when any reading, host or worker, is at or over the
	// threshold; Reasons names each one.
	Degraded bool     `json:"degraded"`
	Reasons  []string `json:"reasons,omitempty"`
	// History holds the previous samples' host readings, oldest first.
	History []MetricsPoint `json:"history,omitempty"`
}

// MetricsPoint is one past sample's host readings.
type MetricsPoint struct {
	Time           time.Time `json:"time"`
	HostCPUPercent float64   `json:"host_cpu_percent"`
	MemoryPercent  float64   `json:"memory_percent"`
	DiskPercent    float64   `json:"disk_percent"`
}

// LogInfo describes the captured log.
type LogInfo struct {
	File         string `json:"file"`
	MaxSizeBytes int64  `json:"max_size_bytes"`
	// DroppedLines counts lines lost because workers wrote faster than the
	// disk took them.
	DroppedLines uint64 `json:"dropped_lines"`
}

// servingReady counts the ready workers of the serving generation.
func (s *Status) servingReady() int {
	n := 0
	for _, w := range s.Workers {
		if w.Generation == s.Generation && w.State == StateReady {
			n++
		}
	}
	return n
}

// fill sets the derived fields: Time and each worker's UptimeSec.
func (s *Status) fill(now time.Time) {
	if s.Time.IsZero() {
		s.Time = now
	}
	if s.Workers == nil {
		s.Workers = []Worker{}
	}
	for i := range s.Workers {
		w := &s.Workers[i]
		if w.UptimeSec == 0 && !w.Started.IsZero() && w.PID != 0 {
			w.UptimeSec = s.Time.Sub(w.Started).Round(time.Millisecond).Seconds()
		}
	}
}
