package control

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ProtocolVersion is the version of the JSON shapes in this package.
const ProtocolVersion = 1

// Ops a Request may carry.
const (
	OpReload = "reload"
	OpStatus = "status"
)

// Wait bounds for a reload request.
const (
	DefaultWaitTimeout = 10 * time.Minute
	MaxWaitTimeout     = time.Hour
)

// Request is what a client sends.
type Request struct {
	// Op is OpReload or OpStatus.
	Op string `json:"op"`
	// Wait, for a reload, asks for the verdict instead of just queueing it.
	Wait bool `json:"wait,omitempty"`
	// Workers, for OpScale, is the worker count to run.
	Workers int `json:"workers,omitempty"`
	// Timeout, for a waited reload, bounds the wait (a Go duration such as
	// "90s"); empty means DefaultWaitTimeout.
	Timeout string `json:"timeout,omitempty"`
}

// waitTimeout parses and bounds r.Timeout.
func (r Request) waitTimeout() (time.Duration, error) {
	if r.Timeout == "" {
		return DefaultWaitTimeout, nil
	}
	d, err := time.ParseDuration(r.Timeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("timeout %q: want a positive duration such as 90s", r.Timeout)
	}
	return min(d, MaxWaitTimeout), nil
}

// Response is what the server answers.
type Response struct {
	// Version is ProtocolVersion of the server.
	Version int `json:"version"`
	// OK is false when the request failed; Error then says why.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Hint, when set, says what to do about Error.
	Hint string `json:"hint,omitempty"`
	// Reload answers OpReload.
	Reload *ReloadResult `json:"reload,omitempty"`
	// Status answers OpStatus.
	Status *Status `json:"status,omitempty"`
	// Scale answers OpScale.
	Scale *ScaleEvent `json:"scale,omitempty"`
}

// Outcome is the verdict on a reload.
type Outcome string

// Outcomes of a reload.
const (
	// OutcomeServed: every worker of the new generation is ready and
	// serving; the old generation is being drained.
	OutcomeServed Outcome = "served"
	// OutcomeAbandoned: the new generation failed (not ready in time,
	// crashed, bad config) and was stopped; the old one keeps serving.
	OutcomeAbandoned Outcome = "abandoned"
	// OutcomeQueued: the reload was accepted and not waited for.
	OutcomeQueued Outcome = "queued"
	// OutcomeTimeout: no verdict within the wait timeout; the reload goes on.
	OutcomeTimeout Outcome = "timeout"
)

// ReloadResult describes one reload: the answer to a reload request and the
// "last_reload" of a Status.
type ReloadResult struct {
	// Outcome is the verdict.
	Outcome Outcome `json:"result"`
	// Generation is the generation the reload started (0 when unknown).
	Generation int `json:"generation"`
	// Serving is the generation serving after the reload.
	Serving int `json:"serving_generation"`
	// Trigger says what asked for the reload: "control", "restart-file",
	// "sighup", "heartbeat"; empty when unknown.
	Trigger string `json:"trigger,omitempty"`
	// Started is when the reload began; zero when unknown.
	Started time.Time `json:"started,omitzero"`
	// DurationMS is how long it took, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Reason says why a reload was abandoned or timed out.
	Reason string `json:"reason,omitempty"`
	// LogTail holds the last log lines of a failed generation.
	LogTail []string `json:"log_tail,omitempty"`
}

// Duration returns DurationMS as a time.Duration.
func (r ReloadResult) Duration() time.Duration {
	return time.Duration(r.DurationMS) * time.Millisecond
}

// Exit statuses of `procmon reload` (see ExitCode).
const (
	ExitOK         = 0
	ExitError      = 1
	ExitAbandoned  = 3
	ExitTimeout    = 4
	ExitNotRunning = 5
	// ExitPermission: this user may not use the control socket (or read
	// the log or the config); procmon may be running fine.
	ExitPermission = 6
)

// ExitCode maps the result of Client.Reload to the exit status of
// `procmon reload`.
func ExitCode(r ReloadResult, err error) int {
	switch {
	case errors.Is(err, ErrNotRunning):
		return ExitNotRunning
	case errors.Is(err, os.ErrPermission):
		return ExitPermission
	case err != nil:
		return ExitError
	}
	switch r.Outcome {
	case OutcomeServed, OutcomeQueued:
		return ExitOK
	case OutcomeAbandoned:
		return ExitAbandoned
	case OutcomeTimeout:
		return ExitTimeout
	}
	return ExitError
}

// HintError is an error that says what to do about it. Handler errors that
// implement it get their hint sent to the client.
type HintError interface {
	error
	Hint() string
}
