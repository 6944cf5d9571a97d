package procmon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/deploytool/deploy/procmon/control"
	"github.com/deploytool/deploy/procmon/metrics"
)

// eventQueue carries supervisor events and metrics samples to the
// daemon's main loop, in order, without ever blocking the sender (the
// supervisor's loop must not wait on the daemon's).
type eventQueue struct {
	mu    sync.Mutex
	items []any
	ready chan struct{} // one token when items is not empty
}

func newEventQueue() eventQueue { return eventQueue{ready: make(chan struct{}, 1)} }

func (q *eventQueue) push(item any) {
	q.mu.Lock()
	q.items = append(q.items, item)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *eventQueue) take() []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// mainLoop is procmon's main loop: it turns events into sd_notify
// messages and pings the systemd watchdog, but only after the
// supervisor's own loop proved it is alive, so that a hung supervisor
// gets procmon restarted. It returns the supervisor's Run error.
func (d *Daemon) mainLoop(done <-chan error) error {
	var wdTick <-chan time.Time
	if d.watchdog.Enabled() {
		t := time.NewTicker(d.watchdog.Interval())
		defer t.Stop()
		wdTick = t.C
	}
	lastStatus := ""
	for {
		select {
		case err := <-done:
			d.handle(d.queue.take(), &lastStatus)
			return err
		case <-d.queue.ready:
			d.handle(d.queue.take(), &lastStatus)
		case <-wdTick:
			d.pingWatchdog()
		}
	}
}

func (d *Daemon) pingWatchdog() {
	ctx, cancel := context.WithTimeout(context.Background(), d.watchdog.Interval())
	defer cancel()
	if err := d.sup.Ping(ctx); err != nil {
		d.logger.Warn("supervisor loop did not answer; withholding the watchdog ping", "err", err)
		return
	}
	d.notifyErr("WATCHDOG", d.watchdog.Ping())
}

// handle sends the sd_notify messages for items, then STATUS= when the
// one-line summary changed.
func (d *Daemon) handle(items []any, lastStatus *string) {
	for _, it := range items {
		ev, ok := it.(Event)
		if !ok {
			continue // a metrics sample: only the summary may change
		}
		switch ev.Kind {
		case EventReady, EventReloaded, EventReloadFailed, EventWaiting:
			// After a failed reload the old generation serves: ready again.
			// Waiting for the first deploy, procmon itself is up: ready, or
			// a Type=notify unit would time out before anything deploys.
			d.notifyErr("READY", d.notifier.Ready())
		case EventReloading:
			d.notifyErr("RELOADING", d.notifier.Reloading())
		case EventStopping:
			d.notifyErr("STOPPING", d.notifier.Stopping())
		}
	}
	if len(items) == 0 {
		return
	}
	if line := summary(d.controlStatus()); line != *lastStatus {
		*lastStatus = line
		d.notifyErr("STATUS", d.notifier.Status(line))
	}
}

func (d *Daemon) notifyErr(what string, err error) {
	if err != nil {
		d.logger.Warn("sd_notify failed", "message", what, "err", err)
	}
}

// summary is the one-line STATUS= shown by `systemctl status`, e.g.
// "ready: generation 3, 2/2 workers ready".
func summary(st control.Status) string {
	line := workersSummary(st)
	if r := st.LastReload; r != nil && r.Outcome == control.OutcomeAbandoned && r.Generation == 0 {
		line += "; reload abandoned: " + r.Reason
	} else if r != nil && r.Outcome == control.OutcomeAbandoned {
		line += fmt.Sprintf("; reload of generation %d abandoned: %s", r.Generation, r.Reason)
	}
	if len(st.DegradedReasons) > 0 {
		line += "; " + strings.Join(st.DegradedReasons, ", ")
	}
	return line
}

// workersSummary is the start of the summary: the state and the serving
// generation's ready workers.
func workersSummary(st control.Status) string {
	if st.State == control.StateWaiting {
		return "waiting for the first deploy: no worker runs yet; a reload starts them"
	}
	ready, total := 0, 0
	for _, w := range st.Workers {
		if w.Generation == st.Generation {
			total++
			if w.State == WorkerReady.String() {
				ready++
			}
		}
	}
	return fmt.Sprintf("%s: generation %d, %d/%d workers ready", st.State, st.Generation, ready, total)
}

// latestSample returns the sampler's newest sample and its history.
func (d *Daemon) latestSample() (metrics.Sample, []metrics.Sample, bool) {
	s, ok := d.sampler.Latest()
	if !ok {
		return metrics.Sample{}, nil, false
	}
	return s, d.sampler.History(), true
}
