package procmon

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// validator collects every problem of a document, each naming its key.
type validator struct {
	path string
	data []byte
	errs []error
}

// fail records a problem with key, at the key's line when it has one.
func (v *validator) fail(key, format string, args ...any) {
	v.failHint(key, "", format, args...)
}

// failHint is fail with a hint: what to write instead.
func (v *validator) failHint(key, hintText, format string, args ...any) {
	loc := v.path
	if line := keyLine(v.data, key); line > 0 {
		loc = fmt.Sprintf("%s:%d", v.path, line)
	}
	v.errs = append(v.errs, hint.Wrap(fmt.Errorf("%s: key %q: %s", loc, key, fmt.Sprintf(format, args...)), hintText))
}

func (v *validator) duration(key, s string, def time.Duration, allowZero bool) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		v.failHint(key, "write it like \"30s\", \"500ms\" or \"2m\"", "%q is not a duration", s)
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
	v.account(fc, cfg)
	v.ready(fc, cfg)
	v.heartbeat(fc, cfg)
	v.idleSocket(cfg)
	v.log(fc, cfg)
	v.proxy(&fc.Proxy, cfg)
	v.metrics(fc.Metrics, cfg)
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
		v.failHint("dir", "the app's directory, e.g. dir = \"/var/www/app/current\"", "missing")
	case !filepath.IsAbs(cfg.Dir):
		v.fail("dir", "%q must be an absolute path", cfg.Dir)
	}
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		v.failHint("command", "the worker's argv, e.g. command = [\"node\", \"server.js\"]", "missing")
	}
	v.modeAndListen(cfg)
	v.workers(fc, cfg)
	for k := range cfg.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.fail("env", "variable name %q is not valid", k)
		}
	}
	cfg.StopSignal = syscall.SIGTERM
	if fc.StopSignal != "" {
		sig, ok := signalByName(fc.StopSignal)
		if !ok {
			v.failHint("stop_signal", "SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 or SIGWINCH", "%q is not a signal procmon can send", fc.StopSignal)
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

// account checks that user and group exist on this host and fills Group
// with the user's primary group when it is not set.
func (v *validator) account(fc *fileConfig, cfg *Config) {
	a, err := lookupAccount(fc.User, fc.Group)
	if ae, ok := errors.AsType[*accountError](err); ok {
		v.failHint(ae.key, hint.Of(ae.err), "%v", ae.err)
		return
	}
	cfg.User, cfg.Group = a.user, a.group
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
			v.failHint("listen", "remove it, or choose mode \"proxy\" or \"socket\"", "not used in mode \"none\"")
		}
		return
	}
	if cfg.Listen == "" {
		v.failHint("listen", "the public address procmon owns, e.g. listen = \"127.0.0.1:8080\"", "missing")
		return
	}
	_, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		v.failHint("listen", "write host:port, e.g. \"127.0.0.1:8080\" or \":8080\"", "%q: %v", cfg.Listen, err)
	} else if port < 1 || port > 65535 {
		v.failHint("listen", "choose a port between 1 and 65535", "port %d is not usable", port)
	}
}

func (v *validator) ready(fc *fileConfig, cfg *Config) {
	r := &cfg.Ready
	r.Check = ReadyCheck(fc.Ready.Check)
	switch r.Check {
	case "":
		r.Check = map[Mode]ReadyCheck{ModeProxy: ReadyHTTP, ModeSocket: ReadyAccept, ModeNone: ReadyStarted}[cfg.Mode]
	case ReadyHTTP, ReadyTCP:
		if cfg.Mode == ModeSocket || cfg.Mode == ModeNone {
			v.failHint("ready.check", "in mode \"socket\" use \"accept\" (the default) or \"notify\"; in mode \"none\", \"started\" or \"notify\"",
				"%q needs a port of the worker's own, which mode %q does not give", r.Check, cfg.Mode)
		}
	case ReadyAccept:
		if cfg.Mode != ModeSocket {
			v.failHint("ready.check", "use \"http\" or \"tcp\" in mode \"proxy\", \"started\" or \"notify\" in mode \"none\"",
				"\"accept\" checks the shared socket, which only mode \"socket\" has")
		}
	case ReadyNotify:
	case ReadyStarted:
		if cfg.Mode != ModeNone {
			v.failHint("ready.check", "use http, tcp or notify", "\"started\" is only for mode \"none\"")
		}
	default:
		v.fail("ready.check", "%q is not one of http, tcp, accept, notify, started", r.Check)
	}
	r.Path = fc.Ready.Path
	if r.Path == "" {
		r.Path = "/"
	} else if !strings.HasPrefix(r.Path, "/") {
		v.fail("ready.path", "%q must start with /", r.Path)
	}
	r.Timeout = v.duration("ready.timeout", fc.Ready.Timeout, 60*time.Second, false)
	r.MinUptime = v.duration("ready.min_uptime", fc.Ready.MinUptime, time.Second, true)
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
		v.failHint("heartbeat.interval", "remove [heartbeat]", "mode \"none\" has no listen address to check")
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
			v.failHint("log.max_size", "write it like \"10MB\" or \"512KB\"", "%q: %v", fc.Log.MaxSize, err)
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
