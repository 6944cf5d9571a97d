package procmon

import "time"

// AppState is the state of the whole app as status shows it.
type AppState int

// The app states.
const (
	// StateStarting: the first generation is not ready yet.
	StateStarting AppState = iota
	// StateReady: the current generation serves; nothing is in progress.
	StateReady
	// StateReloading: a new generation is starting next to the current one.
	StateReloading
	// StateCrashLoop: a worker keeps dying before it is ready; its restarts
	// are slowed to the longest backoff. The other workers keep serving.
	StateCrashLoop
	// StateStopping: procmon is draining and stopping the workers.
	StateStopping
	// StateStopped: every worker is gone; Run has returned or is returning.
	StateStopped
	// StateWaiting: dir did not exist when procmon started (before the
	// first deploy): no worker runs, the public port answers 503, and the
	// reload that finds dir (the first deploy's) starts generation 1.
	StateWaiting
	// StateIdle: workers = "0..N" and no request came for idle_timeout:
	// no worker runs; the next request is held while one starts.
	StateIdle
)

// String returns the state as status prints it.
func (s AppState) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateReady:
		return "ready"
	case StateReloading:
		return "reloading"
	case StateCrashLoop:
		return "crash-loop"
	case StateStopping:
		return "stopping"
	case StateStopped:
		return "stopped"
	case StateWaiting:
		return "waiting"
	case StateIdle:
		return "idle"
	}
	return "unknown"
}

// MarshalText makes the state read as its name in JSON.
func (s AppState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// WorkerState is the state of one worker process.
type WorkerState int

// The worker states.
const (
	// WorkerStarting: started, not ready yet.
	WorkerStarting WorkerState = iota
	// WorkerReady: passed its readiness check.
	WorkerReady
	// WorkerDraining: out of rotation, finishing its in-flight requests.
	WorkerDraining
	// WorkerStopping: sent the stop signal, waiting for it to exit.
	WorkerStopping
	// WorkerExited: the process is gone; a restart may be scheduled.
	WorkerExited
)

// String returns the worker state as status prints it.
func (s WorkerState) String() string {
	switch s {
	case WorkerStarting:
		return "starting"
	case WorkerReady:
		return "ready"
	case WorkerDraining:
		return "draining"
	case WorkerStopping:
		return "stopping"
	case WorkerExited:
		return "exited"
	}
	return "unknown"
}

// MarshalText makes the state read as its name in JSON.
func (s WorkerState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Status is a snapshot of the supervisor, safe to keep and to marshal.
type Status struct {
	// Name is the app's name from the config.
	Name string `json:"name"`
	// State is the app state.
	State AppState `json:"state"`
	// Generation is the number of the generation serving traffic (1 for the
	// first); 0 before Run and while waiting for the first deploy.
	Generation int `json:"generation"`
	// Pending is the number of the generation a reload is starting, or 0.
	Pending int `json:"pending,omitempty"`
	// Dir is the directory the serving generation runs in: `dir` as it
	// resolved when that generation started (the release behind a
	// `current` symlink); "" before Run.
	Dir string `json:"dir,omitempty"`
	// Since is when Run started.
	Since time.Time `json:"since"`
	// Workers lists the current generation's workers, then any pending or
	// draining ones.
	Workers []WorkerStatus `json:"workers"`
	// Reloads counts finished reloads, successful or not.
	Reloads int `json:"reloads"`
	// LastReload is the last finished reload; its At is zero when none.
	LastReload ReloadResult `json:"last_reload"`
	// Heartbeat is the heartbeat's record.
	Heartbeat HeartbeatStatus `json:"heartbeat"`
	// Scale is the worker count and where it came from.
	Scale ScaleStatus `json:"scale"`
	// Totals counts what happened since Run started.
	Totals Totals `json:"totals"`
}

// Totals are counts since Run started: they only grow, across reloads
// and scaling, as the metrics endpoint's counters must.
type Totals struct {
	// Requests, NoWorker and BadGateway are the proxy's counts (proxy
	// mode; zero otherwise): requests it went to give a worker, and those
	// it answered 503 (no worker ready) or 502 (the worker failed) itself.
	Requests   uint64 `json:"requests"`
	NoWorker   uint64 `json:"no_worker"`
	BadGateway uint64 `json:"bad_gateway"`
	// Restarts counts crash restarts by WORKER_ID, over every generation;
	// nil before the first.
	Restarts map[int]int `json:"restarts,omitempty"`
	// ReloadsServed and ReloadsAbandoned count finished reloads by verdict.
	ReloadsServed    int `json:"reloads_served"`
	ReloadsAbandoned int `json:"reloads_abandoned"`
	// ScaledUp and ScaledDown count changes of the worker count, by
	// direction, whoever made them (procmon scale, the autoscaler, idle).
	ScaledUp   int `json:"scaled_up"`
	ScaledDown int `json:"scaled_down"`
	// Wakeups counts the times a request (proxy mode) or a connection
	// (socket mode) woke an idle app; WakeFailures, the wakes after which
	// no worker was ready within ready.timeout.
	Wakeups      int `json:"wakeups"`
	WakeFailures int `json:"wake_failures"`
}

// ScaleStatus is the worker count in a Status.
type ScaleStatus struct {
	// Workers is the count the serving generation keeps and a reload
	// starts.
	Workers int `json:"workers"`
	// Source says who set it: ScaleFromConfig, ScaleFromCommand or
	// ScaleFromAutoscale.
	Source string `json:"source"`
	// ConfigWorkers is the config's workers (MIN of a range).
	ConfigWorkers int `json:"config_workers"`
	// Min and Max bound the count with workers = "MIN..MAX" (autoscale);
	// both 0 for a fixed count.
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
	// Events counts changes since procmon started; Last is the latest
	// (zero At: none).
	Events int        `json:"events"`
	Last   ScaleEvent `json:"last"`
}

// WorkerStatus is one worker in a Status.
type WorkerStatus struct {
	// ID is WORKER_ID, 1 to workers.
	ID int `json:"id"`
	// Generation is the worker's PROCMON_GENERATION.
	Generation int `json:"generation"`
	// PID is the process id (and process group id); 0 while a restart waits.
	PID int `json:"pid"`
	// Port is the worker's own PORT in proxy mode, else 0.
	Port int `json:"port,omitempty"`
	// State is the worker's state.
	State WorkerState `json:"state"`
	// Started is when the process started.
	Started time.Time `json:"started"`
	// Restarts counts the restarts of this worker slot after crashes.
	Restarts int `json:"restarts"`
	// LastExit describes the last crash of this slot ("" when none).
	LastExit string `json:"last_exit,omitempty"`
	// Heartbeat is the heartbeat's record of this process, checked on its
	// own port (proxy mode) or watched coming back to the shared socket
	// (socket mode); zero when it was never checked.
	Heartbeat WorkerHeartbeat `json:"heartbeat"`
	// Replacements counts the times the heartbeat replaced this slot's
	// process because it hung; LastReplaced is the last (zero: never).
	Replacements int       `json:"replacements"`
	LastReplaced time.Time `json:"last_replaced"`
	// InFlight is the number of requests the proxy has on this worker
	// (proxy mode, once ready; else 0).
	InFlight int64 `json:"in_flight"`
	// LongLived counts the upgraded connections (WebSocket) and the
	// answers streaming without a length (event streams) open through the
	// proxy to this worker; a drain ends them over drain_timeout.
	LongLived int `json:"long_lived"`
}

// WorkerHeartbeat is the heartbeat's record of one worker process.
type WorkerHeartbeat struct {
	// LastOK and LastFailure are when its last passed and last failed
	// checks started (zero: none yet).
	LastOK      time.Time `json:"last_ok"`
	LastFailure time.Time `json:"last_failure"`
	// LastError describes the failure of the last check; "" when it passed.
	LastError string `json:"last_error,omitempty"`
	// Failures counts its failed checks in a row.
	Failures int `json:"failures"`
}

// ReloadResult is the verdict of one reload.
type ReloadResult struct {
	// At is when the reload started; zero means no reload yet.
	At time.Time `json:"at"`
	// Duration is how long it took to switch or to give up.
	Duration time.Duration `json:"duration"`
	// Trigger says what asked for it: "file", "signal", "heartbeat", "api".
	Trigger string `json:"trigger"`
	// Generation is the generation the reload started; 0 when it failed
	// before starting one (the config no longer valid, dir missing).
	Generation int `json:"generation"`
	// OK is true when the new generation serves now.
	OK bool `json:"ok"`
	// Error says why the reload was abandoned; the old generation still
	// serves (while waiting for the first deploy, nothing does). "" when OK.
	Error string `json:"error,omitempty"`
}

// HeartbeatStatus is the heartbeat's record in a Status. A check is one
// round: every ready worker on its own port (proxy mode); the public
// address and every ready worker watched coming back to the shared socket
// (socket mode); the public address alone when no worker is ready, or in
// socket mode where /proc cannot show what a worker waits for.
type HeartbeatStatus struct {
	// Enabled is false when heartbeat.interval is 0.
	Enabled bool `json:"enabled"`
	// PerWorker is true when each worker is checked on its own: on its
	// own port (proxy mode), or watched coming back to the shared socket
	// (socket mode, where /proc shows what its threads wait for).
	PerWorker bool `json:"per_worker"`
	// LastAt is when the last check ran (zero: none yet).
	LastAt time.Time `json:"last_at"`
	// LastOK is the last check's verdict: true when all of it passed.
	LastOK bool `json:"last_ok"`
	// LastError describes the last failed check, naming each failed
	// worker.
	LastError string `json:"last_error,omitempty"`
	// Latency is the last check's duration (its slowest probe).
	Latency time.Duration `json:"latency"`
	// Failures counts failed checks in a row.
	Failures int `json:"failures"`
	// FailuresTotal counts every failed check since the start.
	FailuresTotal int `json:"failures_total"`
	// ReloadsTriggered counts reloads the heartbeat asked for (every
	// check failing at once, or the public address's in socket mode).
	ReloadsTriggered int `json:"reloads_triggered"`
	// Replacements counts hung workers the heartbeat replaced one by one.
	Replacements int `json:"replacements"`
	// Suppressed counts checks skipped or ignored by the guard (too soon
	// after a start or reload, or during one).
	Suppressed int `json:"suppressed"`
	// Saturated counts rounds whose late answers were not acted on
	// because the app was saturated, not hung: in socket mode the public
	// address's check timed out with connections waiting to be accepted
	// while every worker passed; in proxy mode a worker's timed out while
	// it answered proxied requests (that check passes).
	Saturated int `json:"saturated"`
}

// EventKind names a change of the app's state, for Options.OnEvent.
type EventKind int

// The events, in the order an app usually sees them.
const (
	// EventReady: the first generation serves (sd_notify READY=1).
	EventReady EventKind = iota
	// EventReloading: a reload started (RELOADING=1).
	EventReloading
	// EventReloaded: a reload switched to its new generation (READY=1).
	EventReloaded
	// EventReloadFailed: a reload was abandoned; the old generation serves.
	EventReloadFailed
	// EventCrashLoop: a worker keeps dying before it is ready.
	EventCrashLoop
	// EventStopping: shutdown began (STOPPING=1).
	EventStopping
	// EventWaiting: Run started without dir and waits for the first
	// deploy; procmon itself is up (READY=1), nothing serves yet. It comes
	// first, instead of EventReady.
	EventWaiting
)

// String names the event.
func (k EventKind) String() string {
	return [...]string{"ready", "reloading", "reloaded", "reload-failed", "crash-loop", "stopping", "waiting"}[k]
}

// Event is one state change passed to Options.OnEvent.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Generation is the generation it concerns.
	Generation int
	// Message is a one-line description (the reason for a failed reload).
	Message string
}
