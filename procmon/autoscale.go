package procmon

import (
	"fmt"
	"time"
)

// autoscaler decides, from samples of the requests in flight per ready
// worker, when workers = "MIN..MAX" adds or removes a worker: one more
// when every sample over a whole window was over up_inflight, one less
// when every sample was under down_inflight, never within cooldown of
// the last change, never outside MIN..MAX. It is the loop's; it only
// decides, the loop acts.
type autoscaler struct {
	cfg ScaleConfig

	high, low  span // the current runs of samples over up, under down
	lastChange time.Time
}

// span is a run of samples on one side of a threshold.
type span struct {
	since time.Time // zero: no run
	sum   float64
	n     int
}

func (r *span) add(now time.Time, v float64) {
	if r.since.IsZero() {
		r.since = now
	}
	r.sum += v
	r.n++
}

func (r *span) mean() float64 { return r.sum / float64(max(r.n, 1)) }

// sampleEvery is how often the loop samples the load for a window.
func sampleEvery(window time.Duration) time.Duration {
	return min(max(window/10, 50*time.Millisecond), time.Second)
}

// observe takes one sample: perWorker requests in flight per ready
// worker, with workers running now and lo..hi allowed. It returns the
// new count and the reason, or 0 when nothing changes.
func (a *autoscaler) observe(now time.Time, perWorker float64, workers, lo, hi int) (int, string) {
	if perWorker > a.cfg.UpInflight {
		a.high.add(now, perWorker)
	} else {
		a.high = span{}
	}
	if perWorker < a.cfg.DownInflight {
		a.low.add(now, perWorker)
	} else {
		a.low = span{}
	}
	if now.Sub(a.lastChange) < a.cfg.Cooldown {
		return 0, ""
	}
	switch {
	case workers < hi && !a.high.since.IsZero() && now.Sub(a.high.since) >= a.cfg.Window:
		return a.change(now, workers+1, fmt.Sprintf("%.0f in flight per worker for %s", a.high.mean(), a.cfg.Window))
	case workers > lo && !a.low.since.IsZero() && now.Sub(a.low.since) >= a.cfg.Window:
		return a.change(now, workers-1, fmt.Sprintf("%.1f in flight per worker for %s", a.low.mean(), a.cfg.Window))
	}
	return 0, ""
}

func (a *autoscaler) change(now time.Time, n int, reason string) (int, string) {
	a.lastChange = now
	a.high, a.low = span{}, span{}
	return n, reason
}

// reset forgets the runs: while a reload runs or nothing serves, the
// load says nothing about the count.
func (a *autoscaler) reset() { a.high, a.low = span{}, span{} }

// onAutoscaleTick samples the serving generation's load and scales by one
// when the autoscaler says so.
func (s *Supervisor) onAutoscaleTick() {
	if s.cur == nil || s.reloading() || s.stopping {
		s.autoscale.reset()
		return
	}
	ready, inflight := 0, int64(0)
	for _, sl := range s.cur.slots {
		if w := sl.w; w != nil && w.state == WorkerReady {
			ready++
			if w.backend != nil {
				inflight += w.backend.InFlight()
			}
		}
	}
	if ready == 0 {
		s.autoscale.reset()
		return
	}
	now := time.Now()
	if s.canIdle() && s.checkIdle(now, inflight) || s.proxy == nil {
		return // socket mode: procmon sees connections, not the load
	}
	lo, hi := s.scale.bounds()
	lo = max(lo, 1) // only idle_timeout stops the last worker
	n, reason := s.autoscale.observe(now, float64(inflight)/float64(ready), len(s.cur.slots), lo, hi)
	if n == 0 {
		return
	}
	if _, err := s.scaleTo(n, ScaleFromAutoscale, reason); err != nil {
		s.log.Warn("autoscale: not scaled", "to", n, "reason", reason, "err", err)
	}
}

// armAutoscale starts, restarts or stops the sampling ticker to match
// the serving config: it runs only for workers = "MIN..MAX" (in socket
// mode only for "0..N", and then only watches for idleness).
func (s *Supervisor) armAutoscale(cfg *Config) {
	if s.autoscaleTick != nil {
		s.autoscaleTick.Stop()
		s.autoscaleTick = nil
	}
	s.autoscale = autoscaler{cfg: cfg.Scale, lastChange: s.autoscale.lastChange}
	s.armWaker(cfg)
	switch {
	case cfg.WorkersMax > 0 && s.proxy != nil:
		s.autoscaleTick = time.NewTicker(sampleEvery(cfg.Scale.Window))
	case cfg.WorkersMax > 0 && cfg.Workers == 0 && s.listenFile != nil: // socket mode: only idle
		s.autoscaleTick = time.NewTicker(sampleEvery(cfg.Scale.IdleTimeout))
	}
}

// autoscaleC is the sampling ticker's channel; nil (never ready) when
// not autoscaling.
func (s *Supervisor) autoscaleC() <-chan time.Time {
	if s.autoscaleTick == nil {
		return nil
	}
	return s.autoscaleTick.C
}
