package procmon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// replaceAfter is how many checks in a row one worker must fail before it
// is replaced: one slow answer (a GC pause, a long request holding a
// single-threaded worker) is forgiven, a second one is not. A round in
// which every check fails, or the public address's, reloads at once, as
// the heartbeat always did.
const replaceAfter = 2

// probeTarget is one check of a heartbeat round: a GET of url (a worker's
// own port, or, w nil, the public address), or, without url, worker w's
// process group pgid watched coming back to the shared socket.
type probeTarget struct {
	w    *worker
	url  string
	pgid int
	// answers, for a worker behind the proxy, counts the answers it
	// sent to proxied requests (proxy.Backend.Answers).
	answers func() int64
}

// probeResult is one finished check of a round.
type probeResult struct {
	w       *worker // nil: the public address
	at      time.Time
	latency time.Duration
	err     error
	// queued, for the public address's check in socket mode that timed
	// out, is how many connections then waited in the shared socket's
	// accept queue (0: none, or not known).
	queued int
	// busy, for a worker behind the proxy whose check timed out, is how
	// many proxied requests it answered meanwhile: busy, not hung, and
	// the check passed (err nil).
	busy int64
}

// heartbeatResult is one finished heartbeat round, sent to the loop.
type heartbeatResult struct {
	at     time.Time
	probes []probeResult
}

// heartbeat checks the app every interval. In proxy mode each ready worker
// is checked on its own port, so a hung worker cannot hide behind the
// balancer (which steers requests around a worker whose requests are
// stuck). In socket mode no request can reach a chosen worker: the public
// address is checked, as a user's request reaches the app, and each ready
// worker is watched coming back to the shared socket (comebackCheck). A
// GET is a fresh connection, GET path, within timeout; 2xx and 3xx are
// healthy.
type heartbeat struct {
	public    string // listen+path
	path      string
	mode      Mode
	perWorker bool
	shared    sharedSocket // socket mode
	timeout   time.Duration
	client    *http.Client
}

// newHeartbeat makes the heartbeat of an app; shared is socket mode's
// listening socket. Socket mode checks each worker only where
// comebackSupported says /proc tells what its threads wait for.
func newHeartbeat(listen string, mode Mode, path string, timeout time.Duration, shared sharedSocket) *heartbeat {
	return &heartbeat{
		public:    publicURL(listen) + path,
		path:      path,
		mode:      mode,
		perWorker: mode == ModeProxy || (mode == ModeSocket && comebackSupported()),
		shared:    shared,
		timeout:   timeout,
		client: &http.Client{
			Timeout:   timeout,
			Transport: &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// targets lists what a round checks in g: in proxy mode each ready
// worker's own port; in socket mode the public address and each ready
// worker's return to the shared socket; else the public address. With no
// worker ready the public address is checked too: it answers 503, and a
// reload follows.
func (h *heartbeat) targets(g *generation) []probeTarget {
	var ts []probeTarget
	if h.perWorker && g != nil {
		for _, sl := range g.slots {
			w := sl.w
			switch {
			case w == nil || w.state != WorkerReady:
			case h.mode == ModeSocket:
				ts = append(ts, probeTarget{w: w, pgid: w.pid}) // the worker leads its own process group
			case w.port != 0:
				addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(w.port))
				t := probeTarget{w: w, url: "http://" + addr + h.path}
				if w.backend != nil {
					t.answers = w.backend.Answers
				}
				ts = append(ts, t)
			}
		}
	}
	if len(ts) == 0 || h.mode == ModeSocket {
		ts = append(ts, probeTarget{url: h.public})
	}
	return ts
}

// check runs one round: every target at once, each within the timeout.
func (h *heartbeat) check(ctx context.Context, ts []probeTarget) heartbeatResult {
	res := heartbeatResult{at: time.Now(), probes: make([]probeResult, len(ts))}
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			var err error
			queued, busy := 0, int64(0)
			if t.url != "" {
				var timedOut bool
				var answered int64
				if t.answers != nil {
					answered = t.answers()
				}
				timedOut, err = h.describe(probeHTTP(ctx, h.client, t.url))
				if timedOut && t.answers != nil {
					if n := t.answers() - answered; n > 0 {
						err, busy = nil, n
					}
				}
				if timedOut && t.w == nil && h.mode == ModeSocket {
					if n, qerr := h.shared.acceptQueue(); qerr == nil && n > 0 {
						queued = n
						err = fmt.Errorf("%w, with %d connections waiting to be accepted", err, n)
					}
				}
			} else {
				err = comebackCheck(ctx, t.pgid, h.shared, h.timeout)
			}
			res.probes[i] = probeResult{w: t.w, at: start, latency: time.Since(start), err: err, queued: queued, busy: busy}
		}()
	}
	wg.Wait()
	return res
}

// describe shortens a timeout to what it means for the app, and says
// whether it was one.
func (h *heartbeat) describe(err error) (bool, error) {
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		return true, fmt.Errorf("GET %s: no answer within %s", h.path, h.timeout)
	}
	return false, err
}

// heartbeatGuard decides whether a heartbeat may run or reload now: never
// while a reload runs, before the first generation serves, or within
// guard of the last start or reload.
type heartbeatGuard struct {
	guard     time.Duration
	lastStart time.Time // the last start of procmon or of a reload, or its end
}

func (g *heartbeatGuard) allows(now time.Time, reloading, serving bool) bool {
	return serving && !reloading && now.Sub(g.lastStart) >= g.guard
}

// workerHeartbeat is the heartbeat's record of one worker process; a
// process started in the slot (after a crash or a replacement) starts a
// fresh record.
type workerHeartbeat struct {
	lastOK, lastFailure time.Time
	lastError           string
	failures            int // in a row
}

func (h *workerHeartbeat) record(p probeResult) {
	if p.err == nil {
		h.lastOK, h.failures, h.lastError = p.at, 0, ""
		return
	}
	h.lastFailure, h.lastError = p.at, p.err.Error()
	h.failures++
}

func (h *workerHeartbeat) status() WorkerHeartbeat {
	return WorkerHeartbeat{LastOK: h.lastOK, LastFailure: h.lastFailure, LastError: h.lastError, Failures: h.failures}
}

// slotHeartbeat is the heartbeat's record of one worker slot: its
// replacements, and the worker being replaced.
type slotHeartbeat struct {
	replacements int
	lastReplaced time.Time
	// release is closed to stop the replaced worker: when its replacement
	// is ready, or the generation is retired. nil when none waits.
	release chan struct{}
}

// hbAction is what a round's failures call for.
type hbAction struct {
	reload     bool      // every check failed: reload the whole generation
	replace    []*worker // workers to replace, each on its own
	suppressed int       // failures the guard kept from acting
	saturated  bool      // the public check waited behind other clients: no action
}

// judge decides what the failed checks of a round call for. When every
// check failed (the only one, of the public address, included), or the
// public address's did (a user's request would have failed: socket mode
// checks it next to each worker), the app is broken: a reload, if the
// app's guard allows it (reloadAllowed). Else each worker that failed
// replaceAfter checks in a row is replaced, unless it started, or its slot
// had a replacement, within guard. A public check that timed out while
// connections waited to be accepted and every worker passed its own check
// (socket mode) is saturation, not a hang: more clients than the workers
// serve at once, whom a reload would not serve sooner. Nothing is done.
func judge(probes []probeResult, failed int, now time.Time, guard time.Duration, reloadAllowed bool) hbAction {
	var a hbAction
	if failed == 0 {
		return a
	}
	if saturated(probes) {
		a.saturated = true
		return a
	}
	if failed == len(probes) || publicFailed(probes) {
		a.reload = reloadAllowed
		if !reloadAllowed {
			a.suppressed = 1
		}
		return a
	}
	for _, p := range probes {
		w := p.w
		if p.err == nil || w == nil || w.hb.failures < replaceAfter {
			continue
		}
		last := w.gen.slots[w.id-1].hb.lastReplaced
		if now.Sub(w.started) < guard || (!last.IsZero() && now.Sub(last) < guard) {
			a.suppressed++
			continue
		}
		a.replace = append(a.replace, w)
	}
	return a
}

// saturated reports whether the round's only failure is the public
// address's, timed out with connections waiting to be accepted, while
// each of at least one worker passed its own check.
func saturated(probes []probeResult) bool {
	public, workers := false, 0
	for _, p := range probes {
		switch {
		case p.w == nil:
			public = p.err != nil && p.queued > 0
		case p.err != nil:
			return false
		default:
			workers++
		}
	}
	return public && workers > 0
}

// publicFailed reports whether the round's check of the public address
// failed.
func publicFailed(probes []probeResult) bool {
	for _, p := range probes {
		if p.w == nil && p.err != nil {
			return true
		}
	}
	return false
}

// onHeartbeat records a finished round and acts on it: a reload when every
// check failed, a replacement of each hung worker otherwise.
func (s *Supervisor) onHeartbeat(r heartbeatResult) {
	s.hbRunning = false
	probes, failed := s.recordRound(r)
	s.noteBusy(probes)
	if failed == 0 {
		return
	}
	if s.stopping {
		s.hb.Suppressed++
		return
	}
	now := time.Now()
	act := judge(probes, failed, now, s.cfg.Heartbeat.Guard, s.hbGuard.allows(now, s.reloading(), s.everReady))
	s.hb.Suppressed += act.suppressed
	if act.saturated {
		s.hb.Saturated++
		s.log.Warn("heartbeat: the public address answered late while every worker was taking connections: saturated, not hung: no reload",
			"err", s.hb.LastError, "hint", "more workers (procmon scale, workers or [autoscale]) or a longer heartbeat timeout")
		return
	}
	if act.reload {
		s.hb.ReloadsTriggered++
		msg := "heartbeat failed on every check: reloading"
		if failed < len(probes) {
			msg = "heartbeat failed on the public address: reloading"
		}
		s.log.Warn(msg, "err", s.hb.LastError, "failures", s.hb.Failures)
		s.beginReload("heartbeat", nil)
		return
	}
	for _, w := range act.replace {
		s.replaceWorker(w)
	}
}

// noteBusy logs and counts a round in which workers behind the proxy
// answered the heartbeat late but answered proxied requests meanwhile:
// saturated, not hung, so their checks passed.
func (s *Supervisor) noteBusy(probes []probeResult) {
	var busy []string
	for _, p := range probes {
		if p.busy > 0 && p.w != nil {
			busy = append(busy, fmt.Sprintf("worker %d (%d answers)", p.w.id, p.busy))
		}
	}
	if len(busy) == 0 {
		return
	}
	s.hb.Saturated++
	s.log.Warn("heartbeat: GET "+s.heartbeat.path+" got no answer within "+s.heartbeat.timeout.String()+" from "+strings.Join(busy, ", ")+
		", which answered proxied requests meanwhile: saturated, not hung: not a failure",
		"hint", "more workers (procmon scale, workers or [autoscale]) or a longer heartbeat timeout")
}

// recordRound keeps the checks of workers still serving in the current
// generation (one replaced or exited during the round is left out), and
// records them per worker and for the app. It returns them and how many
// failed.
func (s *Supervisor) recordRound(r heartbeatResult) ([]probeResult, int) {
	var probes []probeResult
	var errs []string
	var slowest time.Duration
	for _, p := range r.probes {
		if w := p.w; w != nil && (w.gen != s.cur || w.state != WorkerReady || s.slotOf(w).w != w) {
			continue
		}
		probes = append(probes, p)
		slowest = max(slowest, p.latency)
		if p.w != nil {
			p.w.hb.record(p)
		}
		if p.err != nil {
			errs = append(errs, probeLabel(p)+p.err.Error())
		}
	}
	if len(probes) == 0 {
		return nil, 0
	}
	h := &s.hb
	h.LastAt, h.Latency, h.LastOK = r.at, slowest, len(errs) == 0
	if h.LastOK {
		h.Failures, h.LastError = 0, ""
		return probes, 0
	}
	h.Failures++
	h.FailuresTotal++
	h.LastError = strings.Join(errs, "; ")
	return probes, len(errs)
}

func probeLabel(p probeResult) string {
	if p.w == nil {
		return ""
	}
	return fmt.Sprintf("worker %d: ", p.w.id)
}

// publicURL is the http:// base URL of a listen address, for the
// heartbeat: an unspecified host means this machine's loopback.
func publicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}
