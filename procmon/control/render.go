package control

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// RenderStatus writes the human form of `procmon status`: a header, a table
// of workers, then the last reload, heartbeat and metrics.
func RenderStatus(w io.Writer, s Status) error {
	ew := &errWriter{w: w}
	ew.printf("procmon %s: %s, generation %d, pid %d", s.App, s.State, s.Generation, s.PID)
	if s.Pending != 0 {
		ew.printf(", starting generation %d", s.Pending)
	}
	if !s.Started.IsZero() && !s.Time.IsZero() {
		ew.printf(", up %s", human(s.Time.Sub(s.Started)))
	}
	ew.printf("\n")
	if s.Listen != "" {
		ew.printf("listen %s (%s)\n", s.Listen, s.Mode)
	}
	switch {
	case s.State == StateWaiting:
		ew.printf("serving nothing (503): waiting for the first deploy; a reload (procmon reload, the restart file, SIGHUP) starts the workers\n")
	case s.State == StateIdle:
		ew.printf("idle: no worker runs; the next request starts one and is held until it is ready (%s)\n", s.Dir)
	case s.Dir != "" && s.servingReady() == 0:
		ew.printf("serving nothing (503): no worker of generation %d is ready (%s)\n", s.Generation, s.Dir)
	case s.Dir != "":
		ew.printf("serving %s\n", s.Dir)
	}
	ew.printf("\n")
	renderWorkers(ew, s.Workers)
	ew.printf("\n")
	renderScale(ew, s.Scale, s.Time)
	renderLastReload(ew, s.LastReload, s.Time)
	renderHeartbeat(ew, s.Heartbeat, s.Mode)
	renderMetrics(ew, s.Metrics)
	if s.Log != nil {
		ew.printf("log:       %s (cap %s, %d lines dropped)\n", s.Log.File, bytesHuman(uint64(s.Log.MaxSizeBytes)), s.Log.DroppedLines)
	}
	if len(s.DegradedReasons) > 0 {
		ew.printf("degraded:  %s\n", strings.Join(s.DegradedReasons, "; "))
	}
	return ew.err
}

func renderWorkers(ew *errWriter, workers []Worker) {
	if len(workers) == 0 {
		ew.printf("no workers\n")
		return
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tGEN\tPID\tPORT\tSTATE\tUPTIME\tRESTARTS\tHEARTBEAT\tREPLACED\tRSS\tCPU")
	for _, w := range workers {
		cpu := "-"
		if w.PID != 0 {
			cpu = fmt.Sprintf("%.1f%%", w.CPUPercent)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", w.ID, w.Generation, dash(w.PID), dash(w.Port), w.State,
			human(time.Duration(w.UptimeSec*float64(time.Second))), w.Restarts, workerHeartbeat(w.Heartbeat), w.Replacements,
			bytesHuman(w.RSSBytes), cpu)
	}
	tw.Flush()
	renderLongLived(ew, workers)
	for _, w := range workers {
		if w.LastExit != "" {
			ew.printf("worker %s (generation %d) last exit: %s\n", w.ID, w.Generation, w.LastExit)
		}
		if h := w.Heartbeat; h != nil && h.Failures > 0 {
			ew.printf("worker %s (generation %d) heartbeat: %d failed in a row, last at %s: %s\n",
				w.ID, w.Generation, h.Failures, h.LastFailure.UTC().Format(time.RFC3339), h.LastError)
		}
		if !w.LastReplaced.IsZero() {
			ew.printf("worker %s (generation %d) last replaced by the heartbeat at %s\n",
				w.ID, w.Generation, w.LastReplaced.UTC().Format(time.RFC3339))
		}
	}
}

// workerHeartbeat is a worker's HEARTBEAT column: ok, failed N (in a
// row), or - when it was never checked.
func workerHeartbeat(h *WorkerHeartbeat) string {
	switch {
	case h == nil:
		return "-"
	case h.Failures > 0:
		return fmt.Sprintf("failed %d", h.Failures)
	}
	return "ok"
}

func renderLastReload(ew *errWriter, r *ReloadResult, now time.Time) {
	if r == nil {
		ew.printf("reload:    none yet\n")
		return
	}
	ew.printf("reload:    %s", r.Outcome)
	if r.Generation != 0 {
		ew.printf(" generation %d", r.Generation)
	}
	if r.Trigger != "" {
		ew.printf(" (%s)", r.Trigger)
	}
	if !r.Started.IsZero() {
		ew.printf(" at %s", r.Started.UTC().Format(time.RFC3339))
		if !now.IsZero() {
			ew.printf(", %s ago", human(now.Sub(r.Started)))
		}
	}
	ew.printf(", took %s, serving generation %d\n", r.Duration(), r.Serving)
	if r.Reason != "" {
		ew.printf("           reason: %s\n", r.Reason)
	}
	for _, l := range r.LogTail {
		ew.printf("           | %s\n", l)
	}
}

func renderHeartbeat(ew *errWriter, h Heartbeat, mode string) {
	if !h.Enabled {
		ew.printf("heartbeat: off\n")
		return
	}
	last := "not checked yet"
	if !h.LastCheck.IsZero() {
		verdict := "failed"
		if h.LastOK {
			verdict = "ok"
		}
		last = fmt.Sprintf("%s (%s) in %.0fms at %s", verdict, h.LastResult, h.LatencyMS, h.LastCheck.UTC().Format(time.RFC3339))
	}
	what := h.URL
	switch {
	case h.PerWorker && mode == "socket":
		what = h.URL + " and each worker back on the shared socket"
	case h.PerWorker:
		what = "GET " + h.Path + " on each worker's port"
	}
	ew.printf("heartbeat: %s %s\n", what, last)
	saturated := ""
	if h.Saturated > 0 {
		saturated = fmt.Sprintf("; saturated, not acted on %d", h.Saturated)
	}
	ew.printf("           failures %d in a row, %d total; replacements %d; reloads triggered %d; suppressed by guard %d%s\n",
		h.Failures, h.FailuresTotal, h.Replacements, h.ReloadsTriggered, h.SuppressedByGuard, saturated)
}

func renderMetrics(ew *errWriter, m *Metrics) {
	if m == nil {
		ew.printf("host:      no sample yet\n")
		return
	}
	ew.printf("host:      cpu %.1f%%, memory %.1f%%, disk %.1f%%", m.HostCPUPercent, m.MemoryPercent, m.DiskPercent)
	if m.DiskPath != "" {
		ew.printf(" (%s)", m.DiskPath)
	}
	ew.printf(", sampled %s, threshold %.0f%%\n", m.Time.UTC().Format(time.RFC3339), m.ThresholdPercent)
}

// RenderReload writes the human form of a reload answer.
func RenderReload(w io.Writer, r ReloadResult) error {
	ew := &errWriter{w: w}
	switch r.Outcome {
	case OutcomeServed:
		ew.printf("reload served: generation %d ready in %s\n", r.Generation, r.Duration())
	case OutcomeQueued:
		ew.printf("reload queued; 'procmon status' shows its result\n")
	case OutcomeAbandoned:
		renderAbandoned(ew, r)
	case OutcomeTimeout:
		ew.printf("reload: %s\n", r.Reason)
	default:
		ew.printf("reload: unknown result %q\n", r.Outcome)
	}
	if len(r.LogTail) > 0 {
		ew.printf("last log lines of generation %d:\n", r.Generation)
		for _, l := range r.LogTail {
			ew.printf("  %s\n", l)
		}
	}
	return ew.err
}

// renderAbandoned says why a reload was abandoned and what serves now.
func renderAbandoned(ew *errWriter, r ReloadResult) {
	if r.Generation == 0 { // it failed before starting a generation
		ew.printf("reload abandoned: %s\n", r.Reason)
	} else {
		ew.printf("reload abandoned: generation %d failed: %s\n", r.Generation, r.Reason)
	}
	if r.Serving == 0 {
		ew.printf("nothing serves yet: procmon keeps waiting for the first deploy\n")
	} else {
		ew.printf("generation %d keeps serving\n", r.Serving)
	}
}

func dash(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// human prints a duration the way an operator reads it: 45s, 12m3s, 3h4m, 2d5h.
func human(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Hour:
		return trimZeroSeconds(d.Round(time.Second).String())
	case d < 48*time.Hour:
		return trimZeroSeconds(d.Round(time.Minute).String())
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}

// trimZeroSeconds turns "5m0s" into "5m" and leaves "5m10s" alone.
func trimZeroSeconds(s string) string {
	if strings.HasSuffix(s, "m0s") {
		return strings.TrimSuffix(s, "0s")
	}
	return s
}

func bytesHuman(b uint64) string {
	const unit = 1024
	if b == 0 {
		return "-"
	}
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// errWriter keeps the first write error so renderers stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

// renderLongLived writes the open long-lived connections (upgrades,
// event streams) per generation, when there are any: during a reload the
// old generation's count falls as its drain ends them.
func renderLongLived(ew *errWriter, workers []Worker) {
	var gens []int
	count := map[int]int{}
	for _, w := range workers {
		if _, seen := count[w.Generation]; !seen {
			gens = append(gens, w.Generation)
		}
		count[w.Generation] += w.LongLived
	}
	var parts []string
	for _, g := range gens {
		if count[g] > 0 {
			parts = append(parts, fmt.Sprintf("generation %d: %d", g, count[g]))
		}
	}
	if len(parts) > 0 {
		ew.printf("long-lived connections: %s\n", strings.Join(parts, ", "))
	}
}
