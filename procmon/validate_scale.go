package procmon

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ScaleConfig tunes the autoscaler of workers = "MIN..MAX" ([scale]).
type ScaleConfig struct {
	// UpInflight: a worker is added when the requests in flight per ready
	// worker stay over it for Window. Default 10.
	UpInflight float64
	// DownInflight: a worker is removed when they stay under it for
	// Window. Default 1.
	DownInflight float64
	// Window is how long the load must stay over or under. Default 30s.
	Window time.Duration
	// Cooldown is the least time between two changes. Default 60s.
	Cooldown time.Duration
	// IdleTimeout: with workers = "0..N", every worker stops after this
	// long without a request; the next request wakes the app. Default 5m.
	IdleTimeout time.Duration
}

// fileScale is the [scale] table as written.
type fileScale struct {
	UpInflight   *float64 `toml:"up_inflight"`
	DownInflight *float64 `toml:"down_inflight"`
	Window       string   `toml:"window"`
	Cooldown     string   `toml:"cooldown"`
	IdleTimeout  string   `toml:"idle_timeout"`
}

const workersHint = `write workers = 4, or workers = "2..8" to autoscale between 2 and 8`

// workers reads workers (a count, or "MIN..MAX") and [scale].
func (v *validator) workers(fc *fileConfig, cfg *Config) {
	switch w := fc.Workers.(type) {
	case nil:
	case int64:
		cfg.Workers = int(w)
		if w < 1 || w > maxWorkers {
			v.fail("workers", "%d must be between 1 and %d", w, maxWorkers)
		}
	case string:
		v.workersRange(w, cfg)
	default:
		v.failHint("workers", workersHint, "%v is neither a count nor a range", w)
	}
	sc := fc.Scale
	cfg.Scale = ScaleConfig{UpInflight: 10, DownInflight: 1,
		Window:      v.duration("scale.window", sc.Window, 30*time.Second, false),
		Cooldown:    v.duration("scale.cooldown", sc.Cooldown, 60*time.Second, true),
		IdleTimeout: v.duration("scale.idle_timeout", sc.IdleTimeout, 5*time.Minute, false)}
	if sc.UpInflight != nil {
		cfg.Scale.UpInflight = *sc.UpInflight
	}
	if sc.DownInflight != nil {
		cfg.Scale.DownInflight = *sc.DownInflight
	}
	if cfg.Scale.UpInflight <= 0 || cfg.Scale.DownInflight < 0 || cfg.Scale.DownInflight >= cfg.Scale.UpInflight {
		v.failHint("scale.up_inflight", "e.g. up_inflight = 10 and down_inflight = 1",
			"up_inflight (%g) must be more than zero and more than down_inflight (%g)", cfg.Scale.UpInflight, cfg.Scale.DownInflight)
	}
}

func (v *validator) workersRange(w string, cfg *Config) {
	lo, hi, ok := strings.Cut(w, "..")
	minN, err1 := strconv.Atoi(strings.TrimSpace(lo))
	maxN, err2 := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case !ok || err1 != nil || err2 != nil:
		v.failHint("workers", workersHint, "%q is neither a count nor a range", w)
		return
	case minN < 0 || maxN < 1 || maxN > maxWorkers || minN > maxN:
		v.failHint("workers", workersHint, "%q: want 0 <= MIN <= MAX <= %d and MAX >= 1", w, maxWorkers)
		return
	}
	cfg.Workers = minN
	if maxN == minN {
		return
	}
	cfg.WorkersMax = maxN
	switch {
	case cfg.Mode == ModeSocket && minN == 0: // idle and wake only (idle_socket.go)
	case cfg.Mode == ModeSocket:
		v.failHint("workers", fmt.Sprintf(`use mode "proxy"; in socket mode a fixed count (with 'procmon scale N' to change it), or "0..%d" to sleep when idle`, maxN),
			"%q: autoscale by load needs mode \"proxy\": procmon sees each request only there (mode %q hands connections to the workers)", w, cfg.Mode)
	case cfg.Mode != ModeProxy:
		v.failHint("workers", `use mode "proxy", or a fixed count with 'procmon scale N' to change it`,
			"%q: autoscale needs mode \"proxy\": procmon sees each request only there (mode %q hands connections to the workers)", w, cfg.Mode)
	}
}

// idleSocket refuses what would keep a socket-mode "0..N" app from ever
// going idle: procmon sees its connections, not its requests, and the
// heartbeat connects to listen on every check.
func (v *validator) idleSocket(cfg *Config) {
	if cfg.Mode == ModeSocket && cfg.Workers == 0 && cfg.WorkersMax > 0 && cfg.Heartbeat.Interval > 0 {
		v.failHint("heartbeat.interval", `remove [heartbeat] interval, or use mode "proxy", whose heartbeat checks each worker on its own port`,
			"with workers = \"0..%d\" in socket mode the app would never go idle: procmon tells idle from busy by the connections on listen, and each check is one", cfg.WorkersMax)
	}
}
