package procmon

import (
	"fmt"
	"time"
)

// idleState is the loop's record of requests for workers = "0..N": the
// pool's pick count at the last look, and since when it has not moved.
type idleState struct {
	picks uint64
	since time.Time
}

// canIdle says whether the serving config lets every worker stop.
func (s *Supervisor) canIdle() bool { return s.scale.max > 0 && s.scale.config == 0 && s.proxy != nil }

// checkIdle stops every worker once no request came for idle_timeout; it
// returns true when it did. inflight is the serving workers' total.
func (s *Supervisor) checkIdle(now time.Time, inflight int64) bool {
	picks := s.proxy.Picks()
	if picks != s.idle.picks || inflight > 0 || s.idle.since.IsZero() {
		s.idle.picks, s.idle.since = picks, now
		return false
	}
	timeout := s.cur.cfg.Scale.IdleTimeout
	if now.Sub(s.idle.since) < timeout {
		return false
	}
	if _, err := s.scaleTo(0, ScaleFromAutoscale, fmt.Sprintf("no request for %s: idle", timeout)); err != nil {
		s.log.Warn("idle: workers not stopped", "err", err)
		return false
	}
	s.autoscale.reset()
	return true
}

// wake is the proxy's waker: a request found no worker. It must not
// block: the loop may be busy.
func (s *Supervisor) wake() {
	select {
	case s.wakeTrig <- struct{}{}:
	default:
	}
}

// onWake starts one worker of an idle app; the request that woke it is
// held by the proxy until the worker is ready, or answered 503 after
// ready.timeout when it does not come up.
func (s *Supervisor) onWake() {
	if s.cur == nil || len(s.cur.slots) != 0 || s.next != nil || s.stopping || !s.canIdle() {
		return
	}
	s.totals.Wakeups++
	s.idle.picks, s.idle.since = s.proxy.Picks(), time.Now()
	if _, err := s.scaleTo(1, ScaleFromAutoscale, "a request woke the idle app"); err != nil {
		s.log.Error("wake: no worker started; held requests get 503", "err", err)
	}
}

// armWaker lets requests wake the app when the serving config may idle.
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
