package procmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// logTailLines is how many of a failed generation's last lines a reload
// verdict carries.
const logTailLines = 10

// Reload implements control.Handler: without wait it queues a reload;
// with wait it returns the verdict, carrying the failed generation's last
// log lines when the reload was abandoned.
func (d *Daemon) Reload(ctx context.Context, wait bool) (control.ReloadResult, error) {
	if !wait {
		if err := d.sup.request(ctx, reloadRequest{trigger: "control"}); err != nil {
			return control.ReloadResult{}, notRunning(err)
		}
		return control.ReloadResult{Outcome: control.OutcomeQueued, Serving: d.sup.Status().Generation}, nil
	}
	r, err := d.sup.Reload(ctx)
	if err != nil {
		return control.ReloadResult{}, notRunning(err)
	}
	serving := d.sup.Status().Generation
	if r.OK {
		serving = r.Generation
	} else if r.Generation > 0 {
		d.recent.settle(r.Generation, tailQuiet, tailSettleMax)
	}
	return d.controlReload(r, serving), nil
}

// A failed worker's last lines may still be in its output pipe when its
// exit is reported: the verdict waits until no line of the generation
// came for tailQuiet, at most tailSettleMax.
const (
	tailQuiet     = 150 * time.Millisecond
	tailSettleMax = time.Second
)

func notRunning(err error) error {
	if errors.Is(err, errNotRunning) {
		return errors.New("procmon is stopping; no reload")
	}
	return err
}

// Status implements control.Handler: the supervisor's snapshot with the
// latest metrics sample and the log file's counters. The snapshot is
// refreshed first (one round of the loop, at most a second): the proxy's
// counts of long-lived connections change without any event to the loop.
func (d *Daemon) Status(ctx context.Context) (control.Status, error) {
	fresh, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	d.sup.Ping(fresh) // a hung loop: its last snapshot
	return d.controlStatus(), nil
}

func (d *Daemon) controlStatus() control.Status {
	st := d.sup.Status()
	cs := ControlStatus(st, d.cfg)
	// a crash loop at procmon's own start (no reload to give a verdict):
	// the last exit says what the workers' output says of a port in use
	// (one read of the remembered lines per generation, not per worker)
	tails := map[int][]string{}
	for i, w := range cs.Workers {
		if w.LastExit == "" || w.State == "ready" {
			continue
		}
		tail, ok := tails[w.Generation]
		if !ok {
			tail = d.recent.generation(w.Generation, logTailLines)
			tails[w.Generation] = tail
		}
		cs.Workers[i].LastExit += inUseHint(tail, d.cfg.Listen, d.cfg.Mode, w.LastExit)
	}
	if cs.LastReload != nil {
		r := d.controlReload(st.LastReload, st.Generation)
		cs.LastReload = &r
	}
	if d.logFile != nil {
		cs.Log = &control.LogInfo{File: d.logFile.Path(), MaxSizeBytes: d.cfg.Log.MaxSize, DroppedLines: d.logFile.Stats().Dropped}
	}
	if latest, history, ok := d.latestSample(); ok {
		cs.ApplySample(latest, history)
	}
	return cs
}

// controlReload converts r, adding the failed generation's log tail.
func (d *Daemon) controlReload(r ReloadResult, serving int) control.ReloadResult {
	out := ControlReload(r, serving)
	if !r.OK && r.Generation > 0 {
		out.LogTail = d.recent.generation(r.Generation, logTailLines)
		out.Reason += inUseHint(out.LogTail, d.cfg.Listen, d.cfg.Mode, out.Reason)
	}
	return out
}

// ControlStatus converts a supervisor Status into the control socket's
// documented shape, for the app configured by cfg. PID is this process's;
// metrics, log and last reload's log tail are the Daemon's to add.
func ControlStatus(st Status, cfg *Config) control.Status {
	cs := control.Status{
		App: st.Name, PID: os.Getpid(), State: st.State.String(),
		Generation: st.Generation, Pending: st.Pending, Dir: st.Dir, Reloads: st.Reloads,
		Listen: cfg.Listen, Mode: string(cfg.Mode), Started: st.Since,
		Workers: make([]control.Worker, 0, len(st.Workers)),
	}
	for _, w := range st.Workers {
		cw := control.Worker{ID: workerName(w.ID), Generation: w.Generation, PID: w.PID, Port: w.Port,
			State: w.State.String(), Started: w.Started, Restarts: w.Restarts, LastExit: w.LastExit,
			Replacements: w.Replacements, LastReplaced: w.LastReplaced, LongLived: w.LongLived, InFlight: w.InFlight}
		if h := w.Heartbeat; h != (WorkerHeartbeat{}) {
			cw.Heartbeat = &control.WorkerHeartbeat{LastOK: h.LastOK, LastFailure: h.LastFailure, LastError: h.LastError, Failures: h.Failures}
		}
		if w.State == WorkerExited {
			cw.PID, cw.Started = 0, time.Time{}
		}
		cs.Workers = append(cs.Workers, cw)
	}
	cs.Scale = controlScale(st.Scale)
	cs.Totals = controlTotals(st.Totals)
	if !st.LastReload.At.IsZero() {
		r := ControlReload(st.LastReload, st.Generation)
		cs.LastReload = &r
	}
	h := st.Heartbeat
	cs.Heartbeat = control.Heartbeat{Enabled: h.Enabled, PerWorker: h.PerWorker, LastCheck: h.LastAt, LastOK: h.LastOK,
		LatencyMS: float64(h.Latency.Microseconds()) / 1000, Failures: h.Failures, FailuresTotal: h.FailuresTotal,
		ReloadsTriggered: h.ReloadsTriggered, Replacements: h.Replacements, SuppressedByGuard: h.Suppressed,
		Saturated: h.Saturated}
	if h.Enabled {
		cs.Heartbeat.URL, cs.Heartbeat.Path = "http://"+cfg.Listen+cfg.Heartbeat.Path, cfg.Heartbeat.Path
		cs.Heartbeat.LastResult = "ok"
		if !h.LastOK {
			cs.Heartbeat.LastResult = h.LastError
		}
		if h.LastAt.IsZero() {
			cs.Heartbeat.LastResult = ""
		}
	}
	return cs
}

// Scale implements control.Scaler: the worker count of the serving
// generation, changed without a reload (see Supervisor.Scale).
func (d *Daemon) Scale(ctx context.Context, workers int) (control.ScaleEvent, error) {
	ev, err := d.sup.Scale(ctx, workers)
	if errors.Is(err, errNotRunning) {
		return control.ScaleEvent{}, errors.New("procmon is stopping; not scaled")
	}
	if err != nil {
		return control.ScaleEvent{}, err
	}
	return controlScaleEvent(ev), nil
}

func controlTotals(t Totals) *control.Totals {
	out := &control.Totals{Requests: t.Requests, NoWorker: t.NoWorker, BadGateway: t.BadGateway,
		ReloadsServed: t.ReloadsServed, ReloadsAbandoned: t.ReloadsAbandoned, ScaledUp: t.ScaledUp, ScaledDown: t.ScaledDown,
		Wakeups: t.Wakeups, WakeFailures: t.WakeFailures}
	for id, n := range t.Restarts {
		if out.Restarts == nil {
			out.Restarts = map[string]int{}
		}
		out.Restarts[workerName(id)] = n
	}
	return out
}

func controlScale(sc ScaleStatus) *control.Scale {
	out := &control.Scale{Workers: sc.Workers, Source: sc.Source, ConfigWorkers: sc.ConfigWorkers, Min: sc.Min, Max: sc.Max, Events: sc.Events}
	if !sc.Last.At.IsZero() {
		ev := controlScaleEvent(sc.Last)
		out.Last = &ev
	}
	return out
}

func controlScaleEvent(ev ScaleEvent) control.ScaleEvent {
	return control.ScaleEvent{At: ev.At, From: ev.From, To: ev.To, Source: ev.Source, Reason: ev.Reason}
}

// ControlReload converts a reload verdict; serving is the generation
// serving after it.
func ControlReload(r ReloadResult, serving int) control.ReloadResult {
	out := control.ReloadResult{Outcome: control.OutcomeServed, Generation: r.Generation, Serving: serving,
		Trigger: triggerName(r.Trigger), Started: r.At, DurationMS: r.Duration.Milliseconds()}
	if !r.OK {
		out.Outcome, out.Reason = control.OutcomeAbandoned, r.Error
	}
	return out
}

// triggerName maps the supervisor's trigger names to the control
// protocol's documented ones.
func triggerName(t string) string {
	switch t {
	case "file":
		return "restart-file"
	case "signal":
		return "sighup"
	case "api":
		return "control"
	}
	return t
}

// genMarker is how a generation's lines are recognised: the supervisor
// stamps " gen=N worker=…" into each.
func genMarker(gen int) string { return fmt.Sprintf(" gen=%d ", gen) }
