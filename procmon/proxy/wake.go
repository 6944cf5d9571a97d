package proxy

import (
	"errors"
	"time"
)

// errWakeFailed answers a request held while the idle app woke when no
// worker became ready in time (it crashed, or is slow to boot).
var errWakeFailed = errors.New("the idle app was woken for this request, but no worker was ready within ready.timeout; see the workers' log lines above")

// waker is what a request that finds no worker does when the app may be
// idle (workers = "0..N"): ask for a worker and wait for it.
type waker struct {
	fn   func()
	hold time.Duration
}

// SetWaker makes a request that finds no ready worker call wake (which
// must return at once) and wait up to hold for one to join the pool,
// instead of being answered 503 at once: an idle app (no worker) is woken
// by its next request, which is held, not refused. nil turns it off.
func (p *Pool) SetWaker(wake func(), hold time.Duration) {
	if wake == nil {
		p.waker.Store(nil)
		return
	}
	p.waker.Store(&waker{fn: wake, hold: hold})
}

// Picks counts the requests given a worker so far: a count that does not
// move means no request came.
func (p *Pool) Picks() uint64 { return p.picks.Load() }

// awaitWorker is for a request that found no worker: with a waker set it
// asks for one and returns nil once the pool has a worker, or the error
// to answer 503 with: errWakeFailed when hold passed first, errNoWorker
// when no waker is set.
func (p *Pool) awaitWorker() error {
	w := p.waker.Load()
	if w == nil {
		return errNoWorker
	}
	p.picks.Add(1) // a held request is activity too
	deadline := time.NewTimer(w.hold)
	defer deadline.Stop()
	for {
		changed := *p.changed.Load()
		if len(*p.backends.Load()) > 0 {
			return nil
		}
		w.fn()
		select {
		case <-changed:
		case <-deadline.C:
			return errWakeFailed
		}
	}
}
