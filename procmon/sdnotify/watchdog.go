package sdnotify

import (
	"fmt"
	"strconv"
	"time"
)

// Watchdog sends systemd's watchdog keep-alives. It owns no goroutine: the
// caller's main loop ticks every [Watchdog.Interval] and calls
// [Watchdog.Ping], so pings stop when that loop hangs.
type Watchdog struct {
	n       *Notifier
	timeout time.Duration
}

// NewWatchdog returns a Watchdog for a service whose watchdog timeout is
// timeout. A zero timeout, or a disabled Notifier, gives a disabled Watchdog.
func NewWatchdog(n *Notifier, timeout time.Duration) *Watchdog {
	return &Watchdog{n: n, timeout: timeout}
}

// WatchdogFromEnv builds a Watchdog from WATCHDOG_USEC and WATCHDOG_PID as
// read through getenv, for the process whose pid is pid. It is disabled when
// WATCHDOG_USEC is unset or WATCHDOG_PID names another process; a malformed
// value is an error.
func WatchdogFromEnv(n *Notifier, getenv func(string) string, pid int) (*Watchdog, error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return NewWatchdog(n, 0), nil
	}
	v, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || v == 0 {
		return nil, fmt.Errorf("WATCHDOG_USEC=%q: want a positive number of microseconds", usec)
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		wp, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("WATCHDOG_PID=%q: want a process id", p)
		}
		if wp != pid {
			return NewWatchdog(n, 0), nil
		}
	}
	return NewWatchdog(n, time.Duration(v)*time.Microsecond), nil
}

// Enabled reports whether pings are expected.
func (w *Watchdog) Enabled() bool {
	return w != nil && w.timeout > 0 && w.n.Enabled()
}

// Interval is how often to ping: half the watchdog timeout, as sd_watchdog_enabled(3)
// advises. It is zero when the Watchdog is disabled.
func (w *Watchdog) Interval() time.Duration {
	if !w.Enabled() {
		return 0
	}
	return w.timeout / 2
}

// Ping sends WATCHDOG=1; it does nothing when the Watchdog is disabled.
func (w *Watchdog) Ping() error {
	if !w.Enabled() {
		return nil
	}
	return w.n.Watchdog()
}
