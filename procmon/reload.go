package procmon

import (
	"fmt"
	"time"
)

// reloadState is the loop's record of reloads: the one running, the one
// more that triggers during it coalesce into, and the last verdict.
type reloadState struct {
	at      time.Time           // start of the running reload
	trigger string              // what asked for the running reload
	gen     int                 // its generation number, once started
	waiters []chan ReloadResult // callers waiting for the running reload

	queued        bool                // one more reload is due after this one
	queuedTrigger string              // the first trigger that queued it
	queuedWaiters []chan ReloadResult // callers waiting for the queued reload

	count int
	last  ReloadResult
	// unstable: the failing reload's generation took over and no older
	// one is left (unsettle): it serves, restarted as it crashes.
	unstable bool
}

// beginReload starts a reload, or queues one more when one runs. All
// triggers during a reload coalesce into that single queued reload.
func (s *Supervisor) beginReload(trigger string, reply chan ReloadResult) {
	r := &s.reload
	if s.stopping {
		if reply != nil {
			reply <- ReloadResult{At: time.Now(), Trigger: trigger, Error: "procmon is stopping"}
		}
		return
	}
	if s.reloading() {
		if !r.queued {
			r.queued, r.queuedTrigger = true, trigger
		}
		if reply != nil {
			r.queuedWaiters = append(r.queuedWaiters, reply)
		}
		return
	}
	r.at, r.trigger, r.gen, r.waiters = time.Now(), trigger, 0, nil
	if reply != nil {
		r.waiters = append(r.waiters, reply)
	}
	s.hbGuard.lastStart = r.at
	s.log.Info("reload", "trigger", trigger)
	cfg, err := s.reloadConfig()
	if err == nil {
		s.next, err = s.startGeneration(cfg)
	}
	if err != nil {
		s.finishReload(false, err.Error())
		return
	}
	r.gen = s.next.num
	s.emit(EventReloading, s.next.num, "reload triggered by "+trigger)
	if len(s.next.slots) == 0 { // idle (workers = "0..N"): nothing to wait for
		s.switchOver()
	}
}

// reloadConfig re-reads the config file. Keys that need a new listener or
// loop (listen, mode, restart_file, heartbeat, socket, log, name) and the
// accounts (user, group: the socket and the log carry the group) keep
// their running values until procmon restarts; the rest apply to the new
// generation.
func (s *Supervisor) reloadConfig() (*Config, error) {
	if s.cfg.Path == "" {
		return s.cfg, nil
	}
	nc, err := LoadConfig(s.cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("config no longer valid, nothing changed: %w", err)
	}
	merged := *s.cfg
	merged.Dir, merged.Command, merged.Env, merged.Workers = nc.Dir, nc.Command, nc.Env, nc.Workers
	merged.WorkersMax, merged.Scale = nc.WorkersMax, nc.Scale
	merged.StopSignal, merged.StopTimeout = nc.StopSignal, nc.StopTimeout
	if nc.Mode == s.cfg.Mode {
		merged.Ready = nc.Ready
	}
	if nc.Listen != s.cfg.Listen || nc.Mode != s.cfg.Mode || nc.RestartFile != s.cfg.RestartFile ||
		nc.Heartbeat != s.cfg.Heartbeat || nc.Socket != s.cfg.Socket || nc.Log != s.cfg.Log || nc.Name != s.cfg.Name ||
		nc.User != s.cfg.User || nc.Group != s.cfg.Group || nc.Metrics != s.cfg.Metrics {
		s.log.Warn("config: changes to name, listen, mode, restart_file, socket, user, group, [heartbeat], [log] or [metrics] take effect when procmon restarts")
	}
	return &merged, nil
}

// switchOver makes the fully ready new generation current: traffic goes
// to it at once, and the old one drains and stops in the background.
func (s *Supervisor) switchOver() {
	old := s.cur
	s.cur, s.next = s.next, nil
	s.adoptScale(s.cur)
	s.armAutoscale(s.cur.cfg)
	s.refreshBackends()
	s.everReady, s.waiting = true, false
	if s.beginSettle(old) {
		return // the verdict comes when min_uptime passed (settle.go)
	}
	if old != nil {
		s.retire(old, true)
	}
	s.finishReload(true, "")
}

// abandon kills the new generation; the current one keeps serving.
func (s *Supervisor) abandon(reason string) {
	g := s.next
	reason += portHints(g, reason)
	s.next = nil
	s.retire(g, false)
	s.finishReload(false, reason)
}

func (s *Supervisor) finishReload(ok bool, reason string) {
	r := &s.reload
	now := time.Now()
	res := ReloadResult{At: r.at, Duration: now.Sub(r.at), Trigger: r.trigger, Generation: r.gen, OK: ok, Error: reason}
	r.last = res
	r.count++
	unstable := r.unstable
	r.unstable = false
	if ok {
		s.totals.ReloadsServed++
	} else {
		s.totals.ReloadsAbandoned++
	}
	s.hbGuard.lastStart = now
	// Status shows the verdict before a waiter hears it: a caller of
	// `procmon reload --wait` that asks for status next must see the
	// generation it was told serves (and its dir).
	s.publish()
	for _, c := range r.waiters {
		c <- res
	}
	r.waiters = nil
	if ok {
		s.log.Info("reloaded", "gen", r.gen, "took", res.Duration.Round(time.Millisecond), "trigger", r.trigger)
		s.emit(EventReloaded, r.gen, "serving generation "+fmt.Sprint(r.gen))
	} else if unstable {
		s.log.Error("reload failed; its generation serves anyway, restarted as it crashes: no older one is left", "gen", r.gen, "err", reason)
		s.emit(EventReloadFailed, r.gen, reason)
	} else if s.cur == nil {
		s.log.Error("reload failed; nothing serves yet: still waiting for the first deploy", "gen", r.gen, "err", reason)
		s.emit(EventReloadFailed, r.gen, reason)
	} else {
		s.log.Error("reload failed; the old generation keeps serving", "gen", r.gen, "err", reason)
		s.emit(EventReloadFailed, r.gen, reason)
	}
	if r.queued && !s.stopping {
		trigger, waiters := r.queuedTrigger, r.queuedWaiters
		r.queued, r.queuedTrigger, r.queuedWaiters = false, "", nil
		s.beginReload(trigger, nil)
		if s.next != nil {
			r.waiters = append(r.waiters, waiters...)
		} else {
			for _, c := range waiters {
				c <- r.last
			}
		}
	}
	if s.cur == nil && s.next == nil {
		s.answerUnavailable() // still waiting: socket mode answers 503 again
	}
}

// failQueued answers the callers of a queued reload that will not run.
func (s *Supervisor) failQueued(reason string) {
	r := &s.reload
	for _, c := range r.queuedWaiters {
		c <- ReloadResult{At: time.Now(), Trigger: r.queuedTrigger, Error: reason}
	}
	r.queued, r.queuedTrigger, r.queuedWaiters = false, "", nil
}
