package procmon

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/deploytool/deploy/procmon/proxy"
)

// generation is one set of workers started together from one config and
// one resolved dir. Workers of a generation keep its dir when restarted.
type generation struct {
	num     int
	cfg     *Config
	dir     string
	started time.Time
	slots   []*slot
}

// slot is one WORKER_ID of a generation: its current process and its
// crash record. A crashed worker is replaced in its slot.
type slot struct {
	id        int
	w         *worker
	backoff   slotBackoff
	lastExit  string
	crashLoop bool
	timer     *time.Timer
	hb        slotHeartbeat
}

// loop events sent by the goroutines around the workers.
type (
	exitEvent struct {
		w   *worker
		err error
	}
	readyEvent struct {
		w   *worker
		err error
	}
	restartEvent struct {
		g  *generation
		sl *slot
	}
)

// startGeneration resolves dir and starts every worker of a new
// generation. A dir that does not exist is a *dirMissingError.
func (s *Supervisor) startGeneration(cfg *Config) (*generation, error) {
	dir, err := resolveDir(cfg.Dir, s.cur != nil)
	if err != nil {
		return nil, err
	}
	s.stopUnavailable() // the workers take the shared socket over
	s.genNum++
	g := &generation{num: s.genNum, cfg: cfg, dir: dir, started: time.Now()}
	for i := range s.scale.countFor(cfg) {
		g.slots = append(g.slots, &slot{id: i + 1})
	}
	for _, sl := range g.slots {
		if err := s.startWorker(g, sl); err != nil {
			s.retire(g, false)
			return nil, err
		}
	}
	return g, nil
}

// startWorker starts the process of a slot and the goroutines that wait
// for its readiness and its exit.
func (s *Supervisor) startWorker(g *generation, sl *slot) error {
	w := &worker{gen: g, id: sl.id, done: make(chan struct{}), notify: make(chan struct{})}
	if g.cfg.Mode == ModeProxy {
		offer := s.offerPort
		if offer == nil {
			offer = freePortBut
		}
		// g too: a generation being started is not yet one of s.all().
		port, err := offer(func(p int) bool { return s.portTaken(p) || portIn(g, p) })
		if err != nil {
			return err
		}
		w.port = port
	}
	cmd, err := w.spawn(spawnSpec{listener: s.listenFile, notifySocket: s.notifyPath(), output: s.sink,
		cred: s.cred, userEnv: s.userEnv})
	if err != nil {
		return err
	}
	sl.w = w
	s.log.Info("worker started", "gen", g.num, "worker", w.id, "pid", w.pid, "port", w.port, "dir", g.dir)
	ctx, cancel := context.WithTimeout(s.loopCtx, g.cfg.Ready.Timeout)
	w.cancelReady = cancel
	r := g.cfg.Ready
	var accepts func() error
	if s.listenFile != nil {
		pgid, ino := w.pid, s.shared.ino // the worker leads its own process group
		accepts = func() error { return acceptCheck(pgid, ino) }
	}
	go func() {
		err := waitReady(ctx, r.Check, w.port, r.Path, w.notify, accepts)
		if err != nil && w.port != 0 && (r.Check == ReadyHTTP || r.Check == ReadyTCP) && ctx.Err() == context.DeadlineExceeded {
			if h := portHint(w.pid, w.port, false); h != "" {
				err = fmt.Errorf("%w; %s", err, h)
			}
		}
		s.send(readyEvent{w, err})
	}()
	go func() {
		err := cmd.Wait()
		close(w.done)
		// Its last lines before the news of its exit (the log reads in
		// order: what it printed, then why it restarts); a process left
		// in its group may hold the pipe open, so not for long.
		select {
		case <-w.outputDone:
		case <-time.After(outputGrace):
		}
		s.send(exitEvent{w, err})
	}()
	return nil
}

// portTaken says whether a live worker of any generation has port as its
// PORT (bound, or about to be).
func (s *Supervisor) portTaken(port int) bool {
	return slices.ContainsFunc(s.all(), func(g *generation) bool { return portIn(g, port) })
}

// portIn says whether a live worker of g has port as its PORT.
func portIn(g *generation, port int) bool {
	if g == nil {
		return false
	}
	for _, sl := range g.slots {
		if w := sl.w; w != nil && w.port == port && w.state != WorkerExited {
			return true
		}
	}
	return false
}

// outputGrace bounds how long a worker's exit waits for the end of its
// output (see startWorker).
const outputGrace = 100 * time.Millisecond

// slotOf is w's slot; a worker whose slot was scaled away gets a
// detached one, so that late events about it change nothing.
func (s *Supervisor) slotOf(w *worker) *slot {
	if i := w.id - 1; i < len(w.gen.slots) && w.gen.slots[i].id == w.id {
		return w.gen.slots[i]
	}
	return &slot{id: w.id}
}

func (s *Supervisor) onReady(ev readyEvent) {
	w := ev.w
	if w.state != WorkerStarting {
		return
	}
	if ev.err != nil {
		s.log.Warn("worker not ready", "gen", w.gen.num, "worker", w.id, "pid", w.pid, "err", ev.err)
		s.slotOf(w).lastExit = ev.err.Error()
		if w.gen == s.next {
			s.abandon(fmt.Sprintf("worker %d: %v", w.id, ev.err))
			return
		}
		w.signalGroup(syscall.SIGKILL) // its exit restarts it with backoff
		return
	}
	w.state, w.ready = WorkerReady, true
	if w.gen == s.cur {
		s.idle.waking = false
	}
	sl := s.slotOf(w)
	s.releaseReplaced(sl)
	sl.backoff.beforeReady = 0
	sl.crashLoop = false
	if w.port != 0 {
		w.backend = proxy.NewBackend(w.port, fmt.Sprintf("gen=%d worker=%d", w.gen.num, w.id))
	}
	s.log.Info("worker ready", "gen", w.gen.num, "worker", w.id, "pid", w.pid, "after", time.Since(w.started).Round(time.Millisecond))
	switch w.gen {
	case s.cur:
		s.refreshBackends()
		if !s.everReady && allReady(s.cur) {
			s.everReady = true
			s.emit(EventReady, s.cur.num, "serving")
		}
	case s.next:
		if allReady(s.next) {
			s.switchOver()
		}
	}
}

func allReady(g *generation) bool {
	for _, sl := range g.slots {
		if sl.w == nil || sl.w.state != WorkerReady {
			return false
		}
	}
	return true
}

func (s *Supervisor) onExit(ev exitEvent) {
	w := ev.w
	prev := w.state
	w.state = WorkerExited
	w.cancelReady()
	w.signalGroup(syscall.SIGKILL) // whatever it left behind in its group
	if w.backend != nil {
		w.backend.CloseIdle()
	}
	desc := exitDescription(ev.err)
	stopped := prev == WorkerStopping || prev == WorkerDraining
	switch {
	case stopped:
		s.log.Info("worker stopped", "gen", w.gen.num, "worker", w.id, "pid", w.pid, "how", desc)
	case w.gen == s.cur && !s.stopping:
		if s.settle != nil && s.settle.gen == w.gen && s.unsettle(w, desc) {
			break // the old generation serves again
		}
		s.refreshBackends()
		s.scheduleRestart(w, desc)
	case w.gen == s.next:
		s.abandon(fmt.Sprintf("worker %d %s before it was ready", w.id, desc))
	}
	s.reapRetired()
}

// scheduleRestart restarts a crashed worker of the current generation
// after its backoff; a slot that keeps dying before ready is a crash loop.
func (s *Supervisor) scheduleRestart(w *worker, desc string) {
	sl := s.slotOf(w)
	delay, looping := sl.backoff.crashed(s.opts.Backoff, time.Since(w.started), w.ready)
	if !w.ready {
		desc += portHints(w.gen, desc) // "address already in use": a sibling holds the app's own port
	}
	sl.lastExit = desc
	if s.totals.Restarts == nil {
		s.totals.Restarts = map[int]int{}
	}
	s.totals.Restarts[w.id]++
	s.log.Warn("worker crashed", "gen", w.gen.num, "worker", w.id, "pid", w.pid, "how", desc, "restart_in", delay)
	if looping && !sl.crashLoop {
		sl.crashLoop = true
		msg := fmt.Sprintf("worker %d exited %d times in a row before it was ready (last: %s); restarting every %s",
			w.id, sl.backoff.beforeReady, desc, delay)
		s.log.Error("crash loop", "gen", w.gen.num, "worker", w.id, "detail", msg)
		s.emit(EventCrashLoop, w.gen.num, msg)
	}
	g := w.gen
	sl.timer = time.AfterFunc(delay, func() { s.send(restartEvent{g, sl}) })
}

func (s *Supervisor) onRestart(ev restartEvent) {
	if ev.g != s.cur || s.stopping || !slotIn(ev.g, ev.sl) || (ev.sl.w != nil && ev.sl.w.state != WorkerExited) {
		return
	}
	if err := s.startWorker(ev.g, ev.sl); err != nil {
		s.log.Error("worker restart failed", "gen", ev.g.num, "worker", ev.sl.id, "err", err)
		stub := &worker{gen: ev.g, id: ev.sl.id, started: time.Now()}
		s.scheduleRestart(stub, err.Error())
	}
}

// retire takes a generation out of service: stop every live worker
// (after draining its requests when drain is set) and keep the generation
// until all of them exited.
func (s *Supervisor) retire(g *generation, drain bool) {
	for _, sl := range g.slots {
		s.stopSlot(g.cfg, sl, drain)
	}
	// A generation whose workers have all exited already (a crash loop, a
	// forced stop) will send no more exit events: keeping it would leave
	// the loop waiting for it forever.
	if !allExited(g) {
		s.retired = append(s.retired, g)
	}
}

// stopSlot stops a slot's worker (after draining its requests when drain
// is set) and cancels its pending restart. The caller keeps the slot's
// generation, or a shell of it, until the worker exited.
func (s *Supervisor) stopSlot(cfg *Config, sl *slot, drain bool) {
	if sl.timer != nil {
		sl.timer.Stop()
	}
	s.releaseReplaced(sl)
	w := sl.w
	if w == nil || w.state == WorkerExited || w.state == WorkerStopping || w.state == WorkerDraining {
		return
	}
	var drained func() bool
	w.state = WorkerStopping
	if w.backend != nil {
		w.backend.Retire() // before any look at InFlight
	}
	drainFor := cfg.StopTimeout
	if drain && w.backend != nil {
		b := w.backend
		// Long-lived connections (upgrades) get drain_timeout, closed
		// spread over it; requests get stop_timeout, as before.
		b.Drain(cfg.Proxy.DrainTimeout)
		drainFor = max(drainFor, cfg.Proxy.DrainTimeout+time.Second)
		drained = func() bool {
			if b.InFlight() != 0 {
				return false
			}
			// Our own idle keep-alive connections would otherwise hold
			// up a worker that waits for its connections to close.
			b.CloseIdle()
			return true
		}
		w.state = WorkerDraining
	}
	go w.stop(cfg.StopSignal, drainFor, cfg.StopTimeout, drained, s.force)
}

func (s *Supervisor) reapRetired() {
	kept := s.retired[:0]
	for _, g := range s.retired {
		if !allExited(g) {
			kept = append(kept, g)
		}
	}
	s.retired = kept
}

func allExited(g *generation) bool {
	if g == nil {
		return true
	}
	for _, sl := range g.slots {
		if sl.w != nil && sl.w.state != WorkerExited {
			return false
		}
	}
	return true
}

// refreshBackends gives the proxy the ready workers of the current generation.
func (s *Supervisor) refreshBackends() {
	if s.proxy == nil || s.cur == nil {
		return
	}
	var bs []*proxy.Backend
	for _, sl := range s.cur.slots {
		if w := sl.w; w != nil && w.state == WorkerReady && w.backend != nil {
			bs = append(bs, w.backend)
		}
	}
	s.proxy.Set(bs)
}
