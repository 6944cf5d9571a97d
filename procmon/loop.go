package procmon

import (
	"context"
	"maps"
	"syscall"
	"time"
)

// loop is the supervisor's one goroutine that owns the generations, the
// timers and the pending reloads. Everything else talks to it over channels.
func (s *Supervisor) loop(ctx context.Context) {
	var tick <-chan time.Time
	if s.heartbeat != nil {
		t := time.NewTicker(s.cfg.Heartbeat.Interval)
		defer t.Stop()
		tick = t.C
	}
	done, force := ctx.Done(), (<-chan struct{})(s.force)
	for {
		s.syncSocketWaker()
		select {
		case <-done:
			done = nil
			s.shutdown()
		case <-force:
			force = nil
			s.forceStop()
		case req := <-s.reloadReq:
			s.beginReload(req.trigger, req.reply)
		case req := <-s.scaleReq:
			s.onScale(req)
		case <-s.fileTrig:
			s.beginReload("file", nil)
		case <-tick:
			s.onHeartbeatTick()
		case <-s.autoscaleC():
			s.onAutoscaleTick()
		case <-s.wakeTrig:
			s.onWake()
		case ev := <-s.events:
			s.dispatch(ev)
		}
		s.runQueuedScale()
		s.publish()
		if s.stopping && s.serverDrained && allExited(s.cur) && allExited(s.next) && len(s.retired) == 0 {
			return
		}
	}
}

func (s *Supervisor) dispatch(ev any) {
	switch ev := ev.(type) {
	case exitEvent:
		s.onExit(ev)
	case readyEvent:
		s.onReady(ev)
	case restartEvent:
		s.onRestart(ev)
	case heartbeatResult:
		s.onHeartbeat(ev)
	case notifyMsg:
		s.onNotify(ev)
	case wakeCheck:
		s.onWakeCheck(ev)
	case settledEvent:
		s.onSettled(ev)
	case serverDrainedEvent:
		s.serverDrained = true
		if s.cur != nil {
			s.retire(s.cur, false)
		}
	}
}

// serverDrainedEvent says the proxy stopped accepting and its in-flight
// requests finished (or the drain deadline passed).
type serverDrainedEvent struct{}

// shutdown begins the graceful stop: stop accepting, drain, stop workers.
func (s *Supervisor) shutdown() {
	if s.stopping {
		return
	}
	s.stopping = true
	s.log.Info("stopping", "grace", s.cfg.StopTimeout)
	s.emit(EventStopping, s.genOf(s.cur), "stopping")
	if s.next != nil {
		s.abandon("procmon is stopping")
	}
	s.endSettle("procmon is stopping")
	s.failQueued("procmon is stopping")
	if s.cur != nil {
		for _, sl := range s.cur.slots {
			if sl.timer != nil {
				sl.timer.Stop()
			}
		}
	}
	if s.server == nil {
		s.serverDrained = true
		s.stopUnavailable()
		s.stopSocketWaker() // before the listener closes: it polls its descriptor
		if s.listenFile != nil {
			s.listenFile.Close()
			s.listenFile = nil
		}
		if s.cur != nil {
			s.retire(s.cur, false)
		}
		return
	}
	srv, timeout, force := s.server, s.cfg.StopTimeout, s.force
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		go func() {
			select {
			case <-force:
				srv.Close()
			case <-ctx.Done():
			}
		}()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		s.send(serverDrainedEvent{})
	}()
}

// forceStop kills every worker now; the exits end the loop.
func (s *Supervisor) forceStop() {
	s.log.Warn("forced stop: killing every worker")
	s.shutdown()
	for _, g := range s.all() {
		if g == nil {
			continue
		}
		for _, sl := range g.slots {
			if sl.w != nil && sl.w.state != WorkerExited {
				sl.w.signalGroup(syscall.SIGKILL)
			}
		}
	}
}

// waitAllExited reaps the workers of a failed start before Run returns.
func (s *Supervisor) waitAllExited() {
	s.reapRetired()
	for len(s.retired) > 0 {
		if ev, ok := (<-s.events).(exitEvent); ok {
			s.onExit(ev)
		}
	}
}

func (s *Supervisor) genOf(g *generation) int {
	if g == nil {
		return 0
	}
	return g.num
}

func (s *Supervisor) dirOf(g *generation) string {
	if g == nil {
		return ""
	}
	return g.dir
}

func (s *Supervisor) onNotify(m notifyMsg) {
	if m.fields["READY"] != "1" {
		return
	}
	for _, g := range s.all() {
		if g == nil {
			continue
		}
		for _, sl := range g.slots {
			w := sl.w
			if w == nil || w.state != WorkerStarting || w.notified {
				continue
			}
			if pgid, err := syscall.Getpgid(m.pid); w.pid == m.pid || (err == nil && pgid == w.pid) {
				w.notified = true
				close(w.notify)
				return
			}
		}
	}
}

// publish stores a fresh snapshot for Status.
func (s *Supervisor) publish() {
	st := s.buildStatus()
	s.snap.Store(&st)
}

func (s *Supervisor) buildStatus() Status {
	st := Status{
		Name:       s.cfg.Name,
		State:      s.state(),
		Generation: s.genOf(s.cur),
		Pending:    s.genOf(s.next),
		Dir:        s.dirOf(s.cur),
		Since:      s.since,
		Reloads:    s.reload.count,
		LastReload: s.reload.last,
		Heartbeat:  s.hb,
		Scale: ScaleStatus{Workers: s.scale.workers, Source: s.scale.source, ConfigWorkers: s.scale.config,
			Events: s.scale.events, Last: s.scale.last},
		Totals: s.totals,
	}
	st.Totals.Restarts = maps.Clone(s.totals.Restarts)
	if s.proxy != nil {
		c := s.proxy.Counts()
		st.Totals.Requests, st.Totals.NoWorker, st.Totals.BadGateway = c.Requests, c.NoWorker, c.BadGateway
	}
	if s.scale.max > 0 {
		st.Scale.Min, st.Scale.Max = s.scale.config, s.scale.max
	}
	for _, g := range s.all() {
		if g == nil {
			continue
		}
		for _, sl := range g.slots {
			ws := WorkerStatus{ID: sl.id, Generation: g.num, State: WorkerExited, Restarts: sl.backoff.total, LastExit: sl.lastExit,
				Replacements: sl.hb.replacements, LastReplaced: sl.hb.lastReplaced}
			if w := sl.w; w != nil {
				ws.PID, ws.Port, ws.State, ws.Started = w.pid, w.port, w.state, w.started
				ws.Heartbeat = w.hb.status()
				if w.backend != nil {
					ws.LongLived, ws.InFlight = w.backend.LongLived(), w.backend.InFlight()
				}
			}
			st.Workers = append(st.Workers, ws)
		}
	}
	return st
}

func (s *Supervisor) state() AppState {
	switch {
	case s.stopping:
		return StateStopping
	case s.next != nil && s.cur == nil:
		return StateStarting // the first generation, started by a reload after waiting
	case s.reloading():
		return StateReloading
	case s.cur == nil && s.waiting:
		return StateWaiting
	case s.cur != nil && len(s.cur.slots) == 0:
		return StateIdle
	}
	if s.cur != nil {
		for _, sl := range s.cur.slots {
			if sl.crashLoop {
				return StateCrashLoop
			}
		}
	}
	if !s.everReady {
		return StateStarting
	}
	return StateReady
}

func (s *Supervisor) onHeartbeatTick() {
	// Before a generation runs (waiting for the first deploy) there is
	// nothing to check: a 503 must not reload a dir that is not there.
	if s.hbRunning || s.stopping || s.cur == nil || len(s.cur.slots) == 0 {
		return
	}
	if !s.hbGuard.allows(time.Now(), s.reloading(), s.everReady) {
		s.hb.Suppressed++
		return
	}
	s.hbRunning = true
	hb, ctx, targets := s.heartbeat, s.loopCtx, s.heartbeat.targets(s.cur)
	go func() { s.send(hb.check(ctx, targets)) }()
}
