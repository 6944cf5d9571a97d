package procmon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/pelletier/go-toml/v2"

	"github.com/deploytool/deploy/procmon/proxy"
)

// Mode says how a worker receives its traffic.
type Mode string

// The modes of DESIGN.md.
const (
	// ModeProxy: procmon owns listen and forwards HTTP to each worker's PORT.
	ModeProxy Mode = "proxy"
	// ModeSocket: every worker inherits the listener as fd 3 (LISTEN_FDS=1).
	ModeSocket Mode = "socket"
	// ModeNone: workers have no port (queues, cron-like jobs).
	ModeNone Mode = "none"
)

// ReadyCheck says when a started worker counts as up.
type ReadyCheck string

// The readiness checks.
const (
	// ReadyHTTP: GET ready.path on the worker's own port answers 2xx/3xx.
	ReadyHTTP ReadyCheck = "http"
	// ReadyTCP: the worker's own port accepts a connection.
	ReadyTCP ReadyCheck = "tcp"
	// ReadyNotify: the worker sent READY=1 to NOTIFY_SOCKET (sd_notify); in
	// socket mode it must also accept on the shared socket (ReadyAccept).
	ReadyNotify ReadyCheck = "notify"
	// ReadyAccept (socket mode, its default): a process of the worker
	// accepts on the shared socket: it has the socket in an epoll set, or
	// waits in accept, select or poll holding it (see accepting.go). Any
	// language's server passes it as it starts to listen on fd 3; a wrapper
	// that did not exec the app does not, and the error names it.
	ReadyAccept ReadyCheck = "accept"
	// ReadyStarted: the worker counts as up once it has run for a second
	// (at most half of ready.timeout) without exiting. It is the default in
	// mode "none" only, where there is no port to check; pm2 calls such a
	// process "online" once spawned, procmon waits that second so that a
	// worker dying at start is a crash before ready, not a ready worker.
	ReadyStarted ReadyCheck = "started"
)

// Config is one app's procmon config (app.toml), validated and with defaults
// applied. The zero value of each field is never seen by the supervisor:
// LoadConfig and Validate fill the defaults named below.
type Config struct {
	// Path is the file the config was read from; a reload re-reads it.
	// "" means the config is not re-read on reload.
	Path string
	// Name names the app in logs and the default control socket. Default:
	// the config file's base name without ".toml".
	Name string
	// Dir is the working directory of the workers, typically a `current`
	// symlink, resolved again at each worker start. Required, absolute.
	Dir string
	// Command is the worker's argv. Required.
	Command []string
	// Workers is the number of worker processes, the start value: `procmon
	// scale` changes it at runtime. With workers = "MIN..MAX" it is MIN.
	// Default 1.
	Workers int
	// WorkersMax is MAX of workers = "MIN..MAX" (autoscale by load, proxy
	// mode only); 0 means a fixed count.
	WorkersMax int
	// Scale tunes the autoscaler; every field set, from [scale] or its
	// default.
	Scale ScaleConfig
	// Listen is the public host:port procmon owns. Required unless mode is "none".
	Listen string
	// Mode is proxy (default), socket or none.
	Mode Mode
	// RestartFile is the file whose write, touch, creation or replacement
	// triggers a reload; relative to Dir. "" means no file is watched.
	RestartFile string
	// Env is added to the worker's environment (procmon's own environment
	// is inherited).
	Env map[string]string
	// StopSignal is sent to a worker's process group to stop it. Default SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout bounds the drain and, after StopSignal, the wait before
	// SIGKILL. Default 30s.
	StopTimeout time.Duration
	// Ready says when a new worker counts as up.
	Ready Ready
	// Heartbeat is the periodic health check of Listen.
	Heartbeat Heartbeat
	// Log is the captured worker output file (wired by the log package).
	Log Log
	// Proxy is the HTTP front's timeouts, sizes and trusted proxies (mode
	// "proxy"): every field set, from [proxy] or its default.
	Proxy proxy.Config
	// Socket is the control socket path. Default "/run/procmon/<name>.sock".
	Socket string
	// User is the user the workers run as (with its supplementary groups,
	// HOME, USER and LOGNAME), never root when set; procmon itself stays
	// root. "" means the workers run as procmon's own user, which under the
	// shipped unit is root: procmon warns about it at start.
	User string
	// Metrics is the Prometheus endpoint ([metrics]); its zero value
	// serves none.
	Metrics MetricsConfig
	// Group is the workers' group when User is set, and the group that may
	// use the control socket (root:group, 0660) and read the log file
	// (root:group, 0640): add the deploy user to it. Default: User's
	// primary group; with neither set the socket stays 0600 and the log
	// 0640 of procmon's own user and group.
	Group string
}

// Ready configures the readiness check of new workers.
type Ready struct {
	// Check is http (default in proxy mode), tcp, notify (default and only
	// choice in socket mode) or started (default in mode none).
	Check ReadyCheck
	// Path is what the http check GETs. Default "/".
	Path string
	// Timeout is how long a worker has to become ready. Default 60s.
	Timeout time.Duration
	// MinUptime is how long every new worker of a reload must stay up
	// after the switch before the old generation is stopped and the
	// reload counts as served (pm2's min_uptime, 1s by default there
	// too): one that exits sooner sends traffic back to the old
	// generation and the reload is abandoned. Default 1s; 0 stops the
	// old generation at the switch, with no such window.
	MinUptime time.Duration
}

// Heartbeat configures the periodic health check: it replaces a hung
// worker on its own (proxy mode) and reloads an app whose every check
// fails. See the package documentation, "Heartbeat and guard".
type Heartbeat struct {
	// Interval between checks; 0 (the default) disables the heartbeat. The
	// classic setup used 10s; it is opt-in here because a default path that
	// answers 404 would reload the app forever.
	Interval time.Duration
	// Timeout of one check. Default 10s.
	Timeout time.Duration
	// Path is what the check GETs: on each worker's own port in proxy
	// mode, on Listen in socket mode. Default "/".
	Path string
	// Guard is the quiet time after procmon's start or any reload during
	// which a failed check does not reload, and after a worker's start
	// during which it is not replaced (so at most one replacement per
	// worker per Guard). Default 10s.
	Guard time.Duration
}

// Log configures the captured worker output file.
type Log struct {
	// File is the log file; "" means worker output goes to procmon's stderr.
	File string
	// MaxSize is the size at which the file is rotated once to ".1".
	// Default 10 MB.
	MaxSize int64
}

// fileConfig is the TOML document as written; strings are parsed by validate
// so that each error can name its key and line.
type fileConfig struct {
	Name        string            `toml:"name"`
	Dir         string            `toml:"dir"`
	Command     []string          `toml:"command"`
	Workers     any               `toml:"workers"` // an integer, or "MIN..MAX"
	Listen      string            `toml:"listen"`
	Mode        string            `toml:"mode"`
	RestartFile string            `toml:"restart_file"`
	Env         map[string]string `toml:"env"`
	StopSignal  string            `toml:"stop_signal"`
	StopTimeout string            `toml:"stop_timeout"`
	Socket      string            `toml:"socket"`
	User        string            `toml:"user"`
	Group       string            `toml:"group"`
	Ready       struct {
		Check     string `toml:"check"`
		Path      string `toml:"path"`
		Timeout   string `toml:"timeout"`
		MinUptime string `toml:"min_uptime"`
	} `toml:"ready"`
	Heartbeat struct {
		Interval string `toml:"interval"`
		Timeout  string `toml:"timeout"`
		Path     string `toml:"path"`
		Guard    string `toml:"guard"`
	} `toml:"heartbeat"`
	Log struct {
		File    string `toml:"file"`
		MaxSize string `toml:"max_size"`
	} `toml:"log"`
	Proxy   fileProxy   `toml:"proxy"`
	Scale   fileScale   `toml:"scale"`
	Metrics fileMetrics `toml:"metrics"`
}

// fileProxy is the [proxy] table as written.
type fileProxy struct {
	HeadTimeout      string   `toml:"head_timeout"`
	BodyTimeout      string   `toml:"body_timeout"`
	SendTimeout      string   `toml:"send_timeout"`
	ReadTimeout      string   `toml:"read_timeout"`
	KeepaliveTimeout string   `toml:"keepalive_timeout"`
	DrainTimeout     string   `toml:"drain_timeout"`
	BufferBody       string   `toml:"buffer_body"`
	MaxHead          string   `toml:"max_head"`
	Trusted          []string `toml:"trusted"`
	Underscores      string   `toml:"underscores"`
}

// LoadConfig reads and validates the TOML config at path. Errors name the
// file, the line and the key.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(path, data)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseConfig parses and validates a config document; path names it in
// errors, gives the default name and is kept in Config.Path.
func ParseConfig(path string, data []byte) (*Config, error) {
	var fc fileConfig
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return nil, tomlError(path, err)
	}
	v := validator{path: path, data: data}
	cfg := v.build(&fc)
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

func tomlError(path string, err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		errs := make([]error, 0, len(sm.Errors))
		for i := range sm.Errors {
			e := &sm.Errors[i]
			line, _ := e.Position()
			errs = append(errs, hint.Wrap(fmt.Errorf("%s:%d: unknown key %q", path, line, strings.Join(e.Key(), ".")), "check its spelling and that it is under the right [section]"))
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		key := strings.Join(de.Key(), ".")
		if key != "" {
			return fmt.Errorf("%s:%d: key %q: %s", path, line, key, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return fmt.Errorf("%s:%d: %s", path, line, strings.TrimPrefix(de.Error(), "toml: "))
	}
	return fmt.Errorf("%s: %w", path, err)
}
