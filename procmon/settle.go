package procmon

import (
	"fmt"
	"time"
)

// settling is a reload between its switch and its verdict. The new
// generation serves (it is s.cur), and the old one still runs, told
// nothing, until every new worker has stayed up for ready.min_uptime
// (pm2's min_uptime: a worker that exits sooner did not really start).
// A new worker that exits in that window sends traffic back to the old
// generation and the reload is abandoned, as when a worker is never
// ready: an app that listens and then crashes on its first request, or
// on a database it cannot reach, is found before the old workers are
// gone. In proxy mode the old workers get no new requests meanwhile; in
// socket mode both generations accept from the shared socket until the
// window ends (as they do anyway until the old one is told to stop).
type settling struct {
	gen   *generation // the new generation, s.cur
	held  *generation // the old one, still running; nil when there was none
	since time.Time
	timer *time.Timer
}

// settledEvent: gen's min_uptime passed.
type settledEvent struct{ gen *generation }

// reloading says whether a reload runs: starting its generation, or
// settling after the switch. Another reload queues behind it, and
// scaling waits for it.
func (s *Supervisor) reloading() bool { return s.next != nil || s.settle != nil }

// beginSettle starts the min_uptime window of the generation that just
// took over from old (nil: none). It returns false, and settles nothing,
// when there is no window (min_uptime 0, or an idle generation with no
// worker to watch); the caller then retires old and gives the verdict.
func (s *Supervisor) beginSettle(old *generation) bool {
	g := s.cur
	d := g.cfg.Ready.MinUptime
	if d <= 0 || len(g.slots) == 0 {
		return false
	}
	st := &settling{gen: g, since: time.Now()}
	if old != nil && !allExited(old) {
		st.held = old
	} else if old != nil {
		s.retire(old, true)
	}
	st.timer = time.AfterFunc(d, func() { s.send(settledEvent{g}) })
	s.settle = st
	s.log.Info("new workers serve; the old ones stop once they stayed up", "gen", g.num, "min_uptime", d)
	return true
}

// onSettled ends the window: the old generation drains and stops, and the
// reload served.
func (s *Supervisor) onSettled(ev settledEvent) {
	st := s.settle
	if st == nil || st.gen != ev.gen {
		return
	}
	s.settle = nil
	if st.held != nil {
		s.retire(st.held, true)
	}
	s.finishReload(true, "")
}

// unsettle handles the exit of w, a worker of the settling generation,
// described by desc. With the old generation held, traffic goes back to
// it, the new one drains and stops, and the reload is abandoned: it
// returns true. With none (the first deploy, or the old workers were all
// gone), the reload is abandoned but the new generation is all there is:
// it returns false and the caller restarts w as it restarts any crash.
func (s *Supervisor) unsettle(w *worker, desc string) bool {
	st := s.settle
	s.settle = nil
	st.timer.Stop()
	why := fmt.Sprintf("worker %d %s %s after generation %d took over (ready.min_uptime %s)",
		w.id, desc, time.Since(st.since).Round(time.Millisecond), st.gen.num, st.gen.cfg.Ready.MinUptime)
	if st.held == nil {
		s.reload.unstable = true
		s.finishReload(false, why+": no older generation runs to go back to, so this one keeps being restarted")
		return false
	}
	bad := s.cur
	s.cur = st.held
	s.adoptScale(s.cur)
	s.armAutoscale(s.cur.cfg)
	for _, sl := range s.cur.slots { // an old worker that died meanwhile
		if sl.w == nil || sl.w.state == WorkerExited {
			s.onRestart(restartEvent{s.cur, sl})
		}
	}
	s.refreshBackends()
	s.retire(bad, true)
	s.finishReload(false, why)
	return true
}

// endSettle gives a settling reload its verdict now (procmon stops): the
// old generation is retired with the new one.
func (s *Supervisor) endSettle(reason string) {
	st := s.settle
	if st == nil {
		return
	}
	s.settle = nil
	st.timer.Stop()
	if st.held != nil {
		s.retire(st.held, false)
	}
	s.finishReload(false, reason)
}

// all is every generation procmon runs: the current one, the one
// starting, the one held while the current settles, and the retired.
func (s *Supervisor) all() []*generation {
	gs := []*generation{s.cur, s.next}
	if s.settle != nil {
		gs = append(gs, s.settle.held)
	}
	return append(gs, s.retired...)
}
