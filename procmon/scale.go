package procmon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// maxWorkers bounds workers in the config and in procmon scale.
const maxWorkers = 1024

// ScaleEvent is one change of the worker count of the serving generation.
type ScaleEvent struct {
	// At is when it happened; zero means no change yet.
	At time.Time `json:"at"`
	// From and To are the counts before and after.
	From int `json:"from"`
	To   int `json:"to"`
	// Source is ScaleFromCommand or ScaleFromAutoscale.
	Source string `json:"source"`
	// Reason says why ("procmon scale 4", "12 in flight per worker for 30s").
	Reason string `json:"reason"`
}

// String is the change as status and the log show it.
func (e ScaleEvent) String() string {
	return fmt.Sprintf("scaled %d → %d: %s", e.From, e.To, e.Reason)
}

// scaleState is the loop's record of the worker count. The rule: the
// config's workers is the start value; procmon scale (or the autoscaler)
// changes the count, which is kept in the state file and survives reloads
// and restarts of procmon for as long as the config's workers stays what
// it was when the count was set. A config whose workers changed wins,
// and the state file is removed.
type scaleState struct {
	workers int    // the count the serving generation keeps, and a reload starts
	source  string // ScaleFrom…
	config  int    // the config's workers (MIN of a range) the count holds against
	max     int    // the config's MAX of workers = "MIN..MAX"; 0: a fixed count
	file    string // the state file; "" keeps nothing
	last    ScaleEvent
	events  int
}

type (
	scaleRequest struct {
		n     int
		reply chan scaleReply // buffered: the loop never waits for its caller
		// state is queued while a reload runs (the loop's s.scaleQueued),
		// then taken by the loop, or withdrawn by a caller that stopped
		// waiting; whichever comes first decides.
		state *atomic.Int32
	}
	scaleReply struct {
		ev  ScaleEvent
		err error
	}
)

// A scale request's states.
const (
	scaleSent int32 = iota
	scaleQueued
	scaleTaken
	scaleWithdrawn
)

func newScaleState(cfg *Config) scaleState {
	return scaleState{workers: cfg.Workers, source: ScaleFromConfig, config: cfg.Workers, max: cfg.WorkersMax, file: scaleFilePath(cfg)}
}

// sameConfig says whether a config's workers are those the count holds
// against.
func (sc *scaleState) sameConfig(cfg *Config) bool {
	return cfg.Workers == sc.config && cfg.WorkersMax == sc.max
}

// countFor is the number of workers a generation started from cfg gets.
func (sc *scaleState) countFor(cfg *Config) int {
	if sc.sameConfig(cfg) {
		return sc.workers
	}
	return cfg.Workers
}

// bounds are the counts scale may set: MIN..MAX of an autoscaled config,
// else 1..maxWorkers.
func (sc *scaleState) bounds() (lo, hi int) {
	if sc.max > 0 {
		return sc.config, sc.max
	}
	return 1, maxWorkers
}

// restoreScale applies the state file at start, unless the config's
// workers changed since the count was set.
func (s *Supervisor) restoreScale() {
	f, ok, err := loadScaleFile(s.scale.file)
	if err != nil {
		s.log.Warn("scale state ignored", "err", err)
		return
	}
	if !ok {
		return
	}
	if f.ConfigWorkers != s.cfg.Workers || f.ConfigMax != s.cfg.WorkersMax {
		s.log.Info("config's workers changed since the count was scaled: the config wins",
			"scaled", f.Workers, "config_was", f.ConfigWorkers, "config", s.cfg.Workers)
		s.forgetScale()
		return
	}
	s.scale.workers, s.scale.source = f.Workers, f.Source
	s.log.Info("workers from the scale state", "workers", f.Workers, "source", f.Source, "config", s.cfg.Workers)
}

func (s *Supervisor) forgetScale() {
	if err := removeScaleFile(s.scale.file); err != nil {
		s.log.Warn("scale state", "err", err)
	}
}

// adoptScale runs when a generation starts serving: one started from a
// config whose workers changed resets the count to the config's.
func (s *Supervisor) adoptScale(g *generation) {
	if s.scale.sameConfig(g.cfg) {
		return
	}
	if s.scale.source != ScaleFromConfig {
		s.log.Info("config's workers changed: the config wins over the scaled count",
			"scaled", s.scale.workers, "config_was", s.scale.config, "config", g.cfg.Workers)
		s.forgetScale()
	}
	s.scale.workers, s.scale.source = g.cfg.Workers, ScaleFromConfig
	s.scale.config, s.scale.max = g.cfg.Workers, g.cfg.WorkersMax
}

// Scale sets the number of workers of the running generation without a
// reload: new workers join the rotation when ready; the highest WORKER_IDs
// leave it, drain and stop. The count persists (see scaleState). It
// returns once the change started, not when new workers are ready.
func (s *Supervisor) Scale(ctx context.Context, n int) (ScaleEvent, error) {
	if !s.running.Load() {
		return ScaleEvent{}, errNotRunning
	}
	reply := make(chan scaleReply, 1)
	req := scaleRequest{n: n, reply: reply, state: new(atomic.Int32)}
	select {
	case s.scaleReq <- req:
	case <-ctx.Done():
		return ScaleEvent{}, ctx.Err()
	case <-s.loopDone:
		return ScaleEvent{}, errNotRunning
	}
	select {
	case r := <-reply:
		return r.ev, r.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(scaleQueued, scaleWithdrawn) {
			return ScaleEvent{}, hint.Errorf("scale again once it finished; 'procmon status' shows it", "a reload is still running; not scaled")
		}
		// The loop has it: its answer comes without waiting on anything.
		select {
		case r := <-reply:
			return r.ev, r.err
		case <-s.loopDone:
			return ScaleEvent{}, errNotRunning
		}
	case <-s.loopDone:
		return ScaleEvent{}, errNotRunning
	}
}

// onScale runs a scale request, or queues it while a reload runs (the
// reload decides which generation serves, and how many workers it
// started with): runQueuedScale answers it once the reload has ended.
func (s *Supervisor) onScale(req scaleRequest) {
	if s.reloading() && !s.stopping {
		req.state.Store(scaleQueued)
		s.scaleQueued = append(s.scaleQueued, req)
		s.log.Info("scale waits for the reload running", "workers", req.n)
		return
	}
	req.state.Store(scaleTaken)
	ev, err := s.scaleTo(req.n, ScaleFromCommand, fmt.Sprintf("procmon scale %d", req.n))
	req.reply <- scaleReply{ev, err}
}

// runQueuedScale runs the scale requests that came during a reload, in
// the order they came, once it has ended; those whose callers stopped
// waiting are dropped.
func (s *Supervisor) runQueuedScale() {
	if len(s.scaleQueued) == 0 || s.reloading() && !s.stopping {
		return
	}
	queued := s.scaleQueued
	s.scaleQueued = nil
	for _, req := range queued {
		if req.state.CompareAndSwap(scaleQueued, scaleSent) {
			s.onScale(req)
		}
	}
}

// scaleTo changes the count, persists it and resizes the serving
// generation. Nothing changes when it fails.
func (s *Supervisor) scaleTo(n int, source, reason string) (ScaleEvent, error) {
	lo, hi := s.scale.bounds()
	switch {
	case s.stopping:
		return ScaleEvent{}, errors.New("procmon is stopping")
	case s.reloading():
		return ScaleEvent{}, hint.Errorf("scale again once it finished; 'procmon status' shows it", "a reload is running")
	case s.scale.max > 0 && (n < lo || n > hi):
		return ScaleEvent{}, hint.Errorf(fmt.Sprintf("the config's workers = \"%d..%d\" bounds it; change the config to go further", lo, hi), "%d workers: out of range %d..%d", n, lo, hi)
	case n < lo || n > hi:
		return ScaleEvent{}, hint.Errorf(fmt.Sprintf("choose a count from 1 to %d", maxWorkers), "%d workers: out of range", n)
	}
	now := time.Now()
	if source == ScaleFromCommand && n == s.scale.config && s.scale.max == 0 {
		source = ScaleFromConfig // back to the config's value: nothing to keep
		if err := removeScaleFile(s.scale.file); err != nil {
			return ScaleEvent{}, err
		}
	} else if err := saveScaleFile(s.scale.file, scaleFile{Workers: n, ConfigWorkers: s.scale.config, ConfigMax: s.scale.max, Source: source, At: now}); err != nil {
		return ScaleEvent{}, err
	}
	from := s.scale.workers
	if s.cur != nil {
		from = len(s.cur.slots)
	}
	ev := ScaleEvent{At: now, From: from, To: n, Source: source, Reason: reason}
	s.scale.workers, s.scale.source, s.scale.last = n, source, ev
	s.scale.events++
	if n > from {
		s.totals.ScaledUp++
	} else if n < from {
		s.totals.ScaledDown++
	}
	s.log.Info(ev.String(), "source", source)
	s.resize(s.cur, n)
	return ev, nil
}

// resize starts or stops workers of g until it has n slots: new slots
// take the next WORKER_IDs, and the highest ones leave first.
func (s *Supervisor) resize(g *generation, n int) {
	if g == nil {
		return
	}
	for len(g.slots) < n {
		sl := &slot{id: len(g.slots) + 1}
		g.slots = append(g.slots, sl)
		if err := s.startWorker(g, sl); err != nil {
			s.log.Error("new worker did not start", "gen", g.num, "worker", sl.id, "err", err)
			s.scheduleRestart(&worker{gen: g, id: sl.id, started: time.Now()}, err.Error())
		}
	}
	if len(g.slots) <= n {
		return
	}
	gone := slices.Clone(g.slots[n:])
	g.slots = slices.Clone(g.slots[:n])
	slices.Reverse(gone)
	for _, sl := range gone {
		s.stopSlot(g.cfg, sl, true) // leaves the rotation before the list changes
	}
	s.refreshBackends()
	if shell := (&generation{num: g.num, cfg: g.cfg, dir: g.dir, started: g.started, slots: gone}); !allExited(shell) {
		s.retired = append(s.retired, shell)
	}
}

// slotIn says whether sl is still one of g's slots (not scaled away).
func slotIn(g *generation, sl *slot) bool { return g != nil && slices.Contains(g.slots, sl) }
