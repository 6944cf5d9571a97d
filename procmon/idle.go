package procmon

import (
	"fmt"
	"time"
)

// idleState is the loop's record of activity for workers = "0..N": the
// activity count at the last look (the proxy's picks, or in socket mode
// the connections seen new), and since when it has not moved.
type idleState struct {
	seen  uint64
	since time.Time
	conns *connWatch // socket mode: the connections on the listen port
	// waking: a wake's ready.timeout runs.
	waking bool
	// pauseUntil: after a failed wake (socket mode), procmon answers 503
	// until then (see idle_socket.go).
	pauseUntil time.Time
}

// canIdle says whether the serving config lets every worker stop: a
// range from 0, with a proxy or a shared socket to watch.
func (s *Supervisor) canIdle() bool {
	return s.scale.max > 0 && s.scale.config == 0 && (s.proxy != nil || s.listenFile != nil)
}

// activity is the activity count and whether the app is busy now: in
// proxy mode the requests given a worker and those in flight; in socket
// mode the connections seen new and those open (see connwatch.go). A
// sample that fails counts as busy: procmon never stops an app it
// cannot see.
func (s *Supervisor) activity(inflight int64) (uint64, bool) {
	if s.proxy != nil {
		return s.proxy.Picks(), inflight > 0
	}
	open, err := s.idle.conns.sample()
	if err != nil {
		s.log.Warn("idle: cannot see the connections; the app stays up", "err", err)
		return s.idle.conns.events, true
	}
	return s.idle.conns.events, open > 0
}

// checkIdle stops every worker once nothing came for idle_timeout; it
// returns true when it did. inflight is the serving workers' total
// (proxy mode).
func (s *Supervisor) checkIdle(now time.Time, inflight int64) bool {
	seen, busy := s.activity(inflight)
	if seen != s.idle.seen || busy || s.idle.since.IsZero() {
		s.idle.seen, s.idle.since = seen, now
		return false
	}
	timeout := s.cur.cfg.Scale.IdleTimeout
	if now.Sub(s.idle.since) < timeout {
		return false
	}
	what := "request"
	if s.proxy == nil {
		what = "connection"
	}
	if _, err := s.scaleTo(0, ScaleFromAutoscale, fmt.Sprintf("no %s for %s: idle", what, timeout)); err != nil {
		s.log.Warn("idle: workers not stopped", "err", err)
		return false
	}
	s.autoscale.reset()
	return true
}

// wake is the proxy's waker (a request found no worker) and the idle
// socket's (a connection waits). It must not block: the loop may be busy.
func (s *Supervisor) wake() {
	select {
	case s.wakeTrig <- struct{}{}:
	default:
	}
}

// onWake starts the workers of an idle app: one in proxy mode (the
// autoscaler adds more under load), MAX in socket mode (procmon sees no
// load there). The proxy holds the request that woke it until a worker
// is ready, or answers 503 after ready.timeout; in socket mode the
// connection waits in the backlog for the workers (see idle_socket.go).
func (s *Supervisor) onWake() {
	if s.cur == nil || len(s.cur.slots) != 0 || s.next != nil || s.stopping || !s.canIdle() {
		return
	}
	s.totals.Wakeups++
	s.idle.since = time.Time{} // the next look starts the idle time afresh
	n, why := 1, "a request woke the idle app"
	if s.proxy == nil {
		n, why = s.scale.max, "a connection woke the idle app"
	}
	if _, err := s.scaleTo(n, ScaleFromAutoscale, why); err != nil {
		s.log.Error("wake: no worker started; held requests get 503", "err", err)
		return
	}
	s.armWakeCheck()
}

// armWaker lets requests wake the app when the serving config may idle
// (proxy mode; in socket mode the loop watches the socket itself).
func (s *Supervisor) armWaker(cfg *Config) {
	if s.proxy == nil {
		return
	}
	if cfg.WorkersMax > 0 && cfg.Workers == 0 {
		s.proxy.SetWaker(s.wake, cfg.Ready.Timeout)
		return
	}
	s.proxy.SetWaker(nil, 0)
}
