package procmon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"
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
	// ReadyNotify: the worker sent READY=1 to NOTIFY_SOCKET (sd_notify).
	ReadyNotify ReadyCheck = "notify"
	// ReadyStarted: the worker counts as up once it has started. It is the
	// default in mode "none" only, where there is no port to check; pm2
	// treats such processes the same way ("online" once spawned).
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
	// Workers is the number of worker processes. Default 1.
	Workers int
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
	// Socket is the control socket path. Default "/run/procmon/<name>.sock".
	Socket string
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
}

// Heartbeat configures the health check that triggers a reload on failure.
type Heartbeat struct {
	// Interval between checks; 0 (the default) disables the heartbeat. The
	// classic setup used 10s; it is opt-in here because a default path that
	// answers 404 would reload the app forever.
	Interval time.Duration
	// Timeout of one check. Default 10s.
	Timeout time.Duration
	// Path is what the check GETs on Listen. Default "/".
	Path string
	// Guard is the quiet time after any start or reload during which a
	// failed check does not reload. Default 10s.
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
	Workers     *int              `toml:"workers"`
	Listen      string            `toml:"listen"`
	Mode        string            `toml:"mode"`
	RestartFile string            `toml:"restart_file"`
	Env         map[string]string `toml:"env"`
	StopSignal  string            `toml:"stop_signal"`
	StopTimeout string            `toml:"stop_timeout"`
	Socket      string            `toml:"socket"`
	Ready       struct {
		Check   string `toml:"check"`
		Path    string `toml:"path"`
		Timeout string `toml:"timeout"`
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
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q (hint: check its spelling and that it is under the right [section])",
				path, line, strings.Join(e.Key(), ".")))
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

// validator collects every problem of a document, each naming its key.
type validator struct {
	path string
	data []byte
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	loc := v.path
	if line := keyLine(v.data, key); line > 0 {
		loc = fmt.Sprintf("%s:%d", v.path, line)
	}
	v.errs = append(v.errs, fmt.Errorf("%s: key %q: %s", loc, key, fmt.Sprintf(format, args...)))
}

func (v *validator) duration(key, s string, def time.Duration, allowZero bool) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		v.fail(key, "%q is not a duration (hint: write it like \"30s\", \"500ms\" or \"2m\")", s)
	case d < 0 || (d == 0 && !allowZero):
		v.fail(key, "%q must be more than zero", s)
	}
	return d
}

func (v *validator) build(fc *fileConfig) *Config {
	cfg := &Config{
		Path:        v.path,
		Name:        fc.Name,
		Dir:         fc.Dir,
		Command:     fc.Command,
		Workers:     1,
		Listen:      fc.Listen,
		Mode:        Mode(fc.Mode),
		RestartFile: fc.RestartFile,
		Env:         fc.Env,
		Socket:      fc.Socket,
	}
	v.app(fc, cfg)
	v.ready(fc, cfg)
	v.heartbeat(fc, cfg)
	v.log(fc, cfg)
	return cfg
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (v *validator) app(fc *fileConfig, cfg *Config) {
	if cfg.Name == "" {
		cfg.Name = strings.TrimSuffix(filepath.Base(v.path), ".toml")
	}
	if !nameRE.MatchString(cfg.Name) {
		v.fail("name", "%q may only use letters, digits, '.', '_' and '-'", cfg.Name)
	}
	switch {
	case cfg.Dir == "":
		v.fail("dir", "missing (hint: the app's directory, e.g. dir = \"/var/www/app/current\")")
	case !filepath.IsAbs(cfg.Dir):
		v.fail("dir", "%q must be an absolute path", cfg.Dir)
	}
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		v.fail("command", "missing (hint: the worker's argv, e.g. command = [\"node\", \"server.js\"])")
	}
	if fc.Workers != nil {
		cfg.Workers = *fc.Workers
		if cfg.Workers < 1 || cfg.Workers > 1024 {
			v.fail("workers", "%d must be between 1 and 1024", cfg.Workers)
		}
	}
	v.modeAndListen(cfg)
	for k := range cfg.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.fail("env", "variable name %q is not valid", k)
		}
	}
	cfg.StopSignal = syscall.SIGTERM
	if fc.StopSignal != "" {
		sig, ok := signalByName(fc.StopSignal)
		if !ok {
			v.fail("stop_signal", "%q is not a signal procmon can send (hint: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 or SIGWINCH)", fc.StopSignal)
		}
		cfg.StopSignal = sig
	}
	cfg.StopTimeout = v.duration("stop_timeout", fc.StopTimeout, 30*time.Second, false)
	if cfg.Socket == "" {
		cfg.Socket = "/run/procmon/" + cfg.Name + ".sock"
	} else if !filepath.IsAbs(cfg.Socket) {
		v.fail("socket", "%q must be an absolute path", cfg.Socket)
	}
}

func (v *validator) modeAndListen(cfg *Config) {
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeProxy
	case ModeProxy, ModeSocket, ModeNone:
	default:
		v.fail("mode", "%q is not one of proxy, socket, none", cfg.Mode)
		return
	}
	if cfg.Mode == ModeNone {
		if cfg.Listen != "" {
			v.fail("listen", "not used in mode \"none\" (hint: remove it, or choose mode \"proxy\" or \"socket\")")
		}
		return
	}
	if cfg.Listen == "" {
		v.fail("listen", "missing (hint: the public address procmon owns, e.g. listen = \"127.0.0.1:8080\")")
		return
	}
	_, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		v.fail("listen", "%q: %v (hint: write host:port, e.g. \"127.0.0.1:8080\" or \":8080\")", cfg.Listen, err)
	} else if port < 1 || port > 65535 {
		v.fail("listen", "port %d is not usable (hint: choose a port between 1 and 65535)", port)
	}
}

func (v *validator) ready(fc *fileConfig, cfg *Config) {
	r := &cfg.Ready
	r.Check = ReadyCheck(fc.Ready.Check)
	switch r.Check {
	case "":
		r.Check = map[Mode]ReadyCheck{ModeProxy: ReadyHTTP, ModeSocket: ReadyNotify, ModeNone: ReadyStarted}[cfg.Mode]
	case ReadyHTTP, ReadyTCP:
		if cfg.Mode == ModeSocket || cfg.Mode == ModeNone {
			v.fail("ready.check", "%q needs a port of the worker's own, which mode %q does not give (hint: use \"notify\" and send READY=1)", r.Check, cfg.Mode)
		}
	case ReadyNotify:
	case ReadyStarted:
		if cfg.Mode != ModeNone {
			v.fail("ready.check", "\"started\" is only for mode \"none\" (hint: use http, tcp or notify)")
		}
	default:
		v.fail("ready.check", "%q is not one of http, tcp, notify", r.Check)
	}
	r.Path = fc.Ready.Path
	if r.Path == "" {
		r.Path = "/"
	} else if !strings.HasPrefix(r.Path, "/") {
		v.fail("ready.path", "%q must start with /", r.Path)
	}
	r.Timeout = v.duration("ready.timeout", fc.Ready.Timeout, 60*time.Second, false)
}

func (v *validator) heartbeat(fc *fileConfig, cfg *Config) {
	h := &cfg.Heartbeat
	h.Interval = v.duration("heartbeat.interval", fc.Heartbeat.Interval, 0, true)
	h.Timeout = v.duration("heartbeat.timeout", fc.Heartbeat.Timeout, 10*time.Second, false)
	h.Guard = v.duration("heartbeat.guard", fc.Heartbeat.Guard, 10*time.Second, true)
	h.Path = fc.Heartbeat.Path
	if h.Path == "" {
		h.Path = "/"
	} else if !strings.HasPrefix(h.Path, "/") {
		v.fail("heartbeat.path", "%q must start with /", h.Path)
	}
	if h.Interval > 0 && cfg.Mode == ModeNone {
		v.fail("heartbeat.interval", "mode \"none\" has no listen address to check (hint: remove [heartbeat])")
	}
}

func (v *validator) log(fc *fileConfig, cfg *Config) {
	cfg.Log.File = fc.Log.File
	if cfg.Log.File != "" && !filepath.IsAbs(cfg.Log.File) {
		v.fail("log.file", "%q must be an absolute path", cfg.Log.File)
	}
	cfg.Log.MaxSize = 10 << 20
	if fc.Log.MaxSize != "" {
		n, err := parseSize(fc.Log.MaxSize)
		if err != nil {
			v.fail("log.max_size", "%q: %v (hint: write it like \"10MB\" or \"512KB\")", fc.Log.MaxSize, err)
		}
		cfg.Log.MaxSize = n
	}
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", addr[i+1:])
	}
	return addr[:i], port, nil
}

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMG]I?B?|B)?\s*$`)

// parseSize reads "10MB", "512KB", "1GiB" or a plain byte count; K, M and G
// are powers of 1024 either way, as in logrotate.
func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, errors.New("not a size")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("must be more than zero")
	}
	shift := map[byte]uint{'K': 10, 'M': 20, 'G': 30}
	if m[2] != "" && m[2][0] != 'B' {
		n <<= shift[m[2][0]]
	}
	return n, nil
}

func signalByName(name string) (syscall.Signal, bool) {
	sigs := map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
		"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
		"WINCH": syscall.SIGWINCH, "KILL": syscall.SIGKILL,
	}
	sig, ok := sigs[strings.TrimPrefix(strings.ToUpper(name), "SIG")]
	return sig, ok
}

// keyLine finds the 1-based line where a dotted key ("ready.timeout") is set,
// or 0. It understands [table] headers and dotted keys, which is all a
// config of this shape uses.
func keyLine(data []byte, key string) int {
	table, name := "", key
	if i := strings.LastIndex(key, "."); i >= 0 {
		table, name = key[:i], key[i+1:]
	}
	cur := ""
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			cur = strings.TrimSpace(strings.Trim(line[:strings.IndexByte(line+"#", '#')], "[] \t"))
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"`)
		if (cur == table && k == name) || (cur == "" && k == key) {
			return n + 1
		}
	}
	return 0
}
