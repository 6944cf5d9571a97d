package procmon

import (
	"fmt"
	"time"
)

// replaceWorker replaces one hung worker of the current generation, the
// way a reload replaces a generation, but alone: it leaves the balancer at
// once (no new request goes to it), a new process starts in its slot
// (same WORKER_ID, same generation and dir) and joins the balancer when
// ready, and the hung process is stopped when its replacement is ready,
// or stop_timeout after it left the balancer if the replacement takes
// longer: stop_signal, then SIGKILL stop_timeout later. Until it exited it
// is kept, and shown in status, as a one-worker retired generation.
func (s *Supervisor) replaceWorker(w *worker) {
	g, sl := w.gen, s.slotOf(w)
	now := time.Now()
	sl.hb.replacements++
	sl.hb.lastReplaced = now
	s.hb.Replacements++
	s.log.Warn("heartbeat: replacing hung worker", "gen", g.num, "worker", w.id, "pid", w.pid,
		"why", fmt.Sprintf("%d checks in a row failed, last: %s", w.hb.failures, w.hb.lastError))

	w.state = WorkerDraining
	if w.backend != nil {
		w.backend.Retire() // before the list changes: see proxy.Backend.Retire
	}
	sl.w = nil
	s.refreshBackends()
	release := make(chan struct{})
	sl.hb.release = release
	s.retired = append(s.retired, &generation{num: g.num, cfg: g.cfg, dir: g.dir, started: g.started,
		slots: []*slot{{id: w.id, w: w}}})
	released := func() bool {
		select {
		case <-release:
			return true
		default:
			return false
		}
	}
	go w.stop(g.cfg.StopSignal, g.cfg.StopTimeout, g.cfg.StopTimeout, released, s.force)

	if err := s.startWorker(g, sl); err != nil {
		s.log.Error("replacement worker did not start", "gen", g.num, "worker", sl.id, "err", err)
		s.releaseReplaced(sl)
		stub := &worker{gen: g, id: sl.id, started: now}
		s.scheduleRestart(stub, err.Error())
	}
}

// releaseReplaced lets the worker a slot's new process replaces be stopped
// now: the new one is ready, or the slot's generation is being retired.
func (s *Supervisor) releaseReplaced(sl *slot) {
	if sl.hb.release != nil {
		close(sl.hb.release)
		sl.hb.release = nil
	}
}
