package deploy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// AppStatus is procmon's view of the app on one host, decoded from the JSON
// that `procmon status --json` prints. Package deploy never imports
// procmon: the two share this JSON shape only, and fields deploy does not
// show are ignored.
type AppStatus struct {
	// App is the app's name in procmon's config.
	App string `json:"app"`
	// State is waiting (for the first deploy), starting, ready, reloading,
	// degraded, crash-loop, stopping or stopped.
	State string `json:"state"`
	// Generation is the generation serving (0 before the first is up).
	Generation int `json:"generation"`
	// Dir is the directory the serving generation runs in: the release
	// procmon serves, whatever current points at. "" from a procmon too
	// old to say, or before its first generation started.
	Dir string `json:"dir,omitempty"`
	// Workers are the workers of every live generation.
	Workers []AppWorker `json:"workers"`
	// Heartbeat is the periodic health check of the public address.
	Heartbeat AppHeartbeat `json:"heartbeat"`
	// Metrics is the latest host sample; nil before the first.
	Metrics *AppMetrics `json:"metrics,omitempty"`
	// DegradedReasons says why the app is (or would be) degraded.
	DegradedReasons []string `json:"degraded_reasons,omitempty"`
}

// AppWorker is one worker process of the app.
type AppWorker struct {
	// ID is the worker id, Generation its generation.
	ID         string `json:"id"`
	Generation int    `json:"generation"`
	// PID is 0 while the worker is not running.
	PID int `json:"pid"`
	// State is e.g. starting, ready, draining, backoff, stopped.
	State string `json:"state"`
	// Restarts counts crash restarts of the slot.
	Restarts int `json:"restarts"`
}

// AppHeartbeat is the health check procmon runs against the app.
type AppHeartbeat struct {
	// Enabled is false when no heartbeat is configured.
	Enabled bool `json:"enabled"`
	// LastCheck is when the last check finished: zero before the first
	// (procmon just started), when LastOK says nothing.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastOK is the last check's verdict; LastResult says what it got.
	LastOK     bool   `json:"last_ok"`
	LastResult string `json:"last_result,omitempty"`
	// Failures counts consecutive failed checks.
	Failures int `json:"consecutive_failures"`
}

// AppMetrics are the host's latest readings, in percent.
type AppMetrics struct {
	HostCPUPercent float64 `json:"host_cpu_percent"`
	MemoryPercent  float64 `json:"memory_percent"`
	DiskPercent    float64 `json:"disk_percent"`
	// Degraded is true when a reading is at or over procmon's threshold;
	// Reasons names each one.
	Degraded bool     `json:"degraded"`
	Reasons  []string `json:"reasons,omitempty"`
}

// Ready counts the workers in state ready.
func (a *AppStatus) Ready() int {
	n := 0
	for _, w := range a.Workers {
		if w.State == "ready" {
			n++
		}
	}
	return n
}

// ServingReady counts the ready workers of the serving generation: those
// that take traffic. With none, procmon answers 503.
func (a *AppStatus) ServingReady() int {
	n := 0
	for _, w := range a.Workers {
		if w.Generation == a.Generation && w.State == "ready" {
			n++
		}
	}
	return n
}

// Degraded reports whether procmon flags the app degraded, and why.
func (a *AppStatus) Degraded() (bool, []string) {
	reasons := a.DegradedReasons
	if a.Metrics != nil && len(reasons) == 0 {
		reasons = a.Metrics.Reasons
	}
	deg := a.State == "degraded" || (a.Metrics != nil && a.Metrics.Degraded)
	return deg, reasons
}

// ErrProcmonMissing is returned by AppStatusOf when the procmon command is
// not in the PATH of the host's login user.
var ErrProcmonMissing = errors.New("procmon is not installed (not in the login user's PATH)")

// ProcmonDownError is returned by AppStatusOf when procmon answered that
// it is not running for the config (`procmon status` exit status 5).
type ProcmonDownError struct {
	// Msg is the first line procmon printed on stderr.
	Msg string
}

func (e *ProcmonDownError) Error() string { return "procmon not running: " + e.Msg }

// Hint says what to do.
func (e *ProcmonDownError) Hint() string {
	return "start it on the host (systemctl start procmon@<app>) and check its config path (the procmon key)"
}

// ProcmonPermissionError is returned by AppStatusOf when the login user
// may not use procmon's control socket (or read its config): `procmon
// status` exit status 6. procmon may be running and serving fine.
type ProcmonPermissionError struct {
	// Msg is procmon's error ("permission denied on <path>"); HintMsg is
	// its hint: the group to join.
	Msg, HintMsg string
}

func (e *ProcmonPermissionError) Error() string {
	if i := strings.Index(e.Msg, "permission denied"); i > 0 {
		return e.Msg[i:]
	}
	return e.Msg
}

// Hint says what to do.
func (e *ProcmonPermissionError) Hint() string {
	if e.HintMsg != "" {
		return e.HintMsg
	}
	return "add the login user to the group of the procmon config's group key (usermod -aG <group> <user>), or set that key"
}

// ProcmonFailedError is returned by AppStatusOf when `procmon status`
// failed for another reason (a bad config, an old procmon, …).
type ProcmonFailedError struct {
	// Op is the procmon command that failed ("" = status).
	Op string
	// Code is its exit status; Msg and HintMsg its error and hint lines.
	Code         int
	Msg, HintMsg string
}

func (e *ProcmonFailedError) Error() string {
	return fmt.Sprintf("procmon %s failed (exit status %d): %s", cmp.Or(e.Op, "status"), e.Code, e.Msg)
}

// Hint says what to do.
func (e *ProcmonFailedError) Hint() string { return e.HintMsg }

// procmonExit reads what a failed `procmon status` said: its exit status
// and its "error:" and "hint:" lines, into one of the errors above.
func procmonExit(code int, stderr string, runErr error) error {
	var msg, hint string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case msg == "" && strings.HasPrefix(line, "error: "):
			msg = strings.TrimPrefix(line, "error: ")
		case hint == "" && strings.HasPrefix(line, "hint: "):
			hint = strings.TrimPrefix(line, "hint: ")
		}
	}
	if msg == "" {
		msg = firstLineOf(stderr)
	}
	if msg == "" {
		msg = runErr.Error()
	}
	switch {
	case code == 6 || strings.Contains(msg, "permission denied"):
		return &ProcmonPermissionError{Msg: msg, HintMsg: hint}
	case code == 5:
		return &ProcmonDownError{Msg: msg}
	}
	return &ProcmonFailedError{Code: code, Msg: msg, HintMsg: hint}
}

// procmonCommand returns the command line that runs procmon with args and
// `-c <env.Procmon>`, every word but the plain `procmon` quoted.
func procmonCommand(env *config.Env, args ...string) (string, error) {
	if env.Procmon == "" {
		return "", fmt.Errorf("env %s has no procmon key: set it to procmon's config path on the server", env.Name)
	}
	if err := config.CheckPath(env.Procmon); err != nil {
		return "", fmt.Errorf("env %s: procmon: %w", env.Name, err)
	}
	// The same binary the health gate runs: DEPLOY_PROCMON from the env
	// key when set, else procmon from the login user's PATH.
	words := []string{"procmon"}
	if bin := env.Vars["DEPLOY_PROCMON"]; bin != "" {
		if err := config.CheckPath(bin); err != nil {
			return "", fmt.Errorf("env %s: DEPLOY_PROCMON: %w", env.Name, err)
		}
		words = []string{script.Quote(bin)}
	}
	for _, a := range append(args, "-c", env.Procmon) {
		words = append(words, script.Quote(a))
	}
	return strings.Join(words, " "), nil
}

// AppStatusOf runs `procmon status --json -c <procmon>` on the host behind
// conn and decodes its answer. It changes nothing. The error is
// ErrProcmonMissing (wrapped) when procmon is not installed, a
// *ProcmonDownError when it is not running, a *ProcmonPermissionError when
// the login user may not ask it, and a *ProcmonFailedError otherwise.
func AppStatusOf(ctx context.Context, conn Conn, env *config.Env) (*AppStatus, error) {
	line, err := procmonCommand(env, "status", "--json")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := runProcmon(ctx, conn, "status", line, &out); err != nil {
		return nil, err
	}
	return DecodeAppStatus(out.Bytes())
}

// runProcmon runs a procmon command line (op names it in errors) on the
// host behind conn, its output to out, and reads a failure as AppStatusOf
// documents: ErrProcmonMissing, or what procmonExit makes of its exit.
func runProcmon(ctx context.Context, conn Conn, op, line string, out io.Writer) error {
	var errOut bytes.Buffer
	err := conn.Run(ctx, line, nil, out, &errOut)
	if err == nil {
		return nil
	}
	var ex interface{ ExitStatus() int }
	if errors.As(err, &ex) && ex.ExitStatus() == 127 {
		return ErrProcmonMissing
	}
	if ctx.Err() != nil || !errors.As(err, &ex) {
		return fmt.Errorf("procmon %s: %w", op, err)
	}
	err = procmonExit(ex.ExitStatus(), errOut.String(), err)
	if f, ok := err.(*ProcmonFailedError); ok && op != "status" {
		f.Op = op
	}
	return err
}

// DecodeAppStatus reads the JSON `procmon status --json` prints.
func DecodeAppStatus(b []byte) (*AppStatus, error) {
	var st AppStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("procmon status --json printed something that is not its status (%v): is procmon up to date?", err)
	}
	if st.State == "" {
		return nil, fmt.Errorf("procmon status --json gave no state: is procmon up to date?")
	}
	return &st, nil
}

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
