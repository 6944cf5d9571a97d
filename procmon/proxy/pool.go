package proxy

import (
	"net/http"
	"slices"
	"sync/atomic"
)

// Pool is the rotation of ready workers the proxy sends requests to. The
// supervisor swaps the list atomically; requests read it without locks.
type Pool struct {
	backends atomic.Pointer[[]*Backend]
	next     atomic.Uint64
	picks    atomic.Uint64
	changed  atomic.Pointer[chan struct{}] // closed by Set: the list changed
	waker    atomic.Pointer[waker]         // nil: no worker is a 503 at once
	counts   poolCounts
}

// poolCounts are the proxy's totals since the pool was made.
type poolCounts struct {
	requests   atomic.Uint64 // requests that went looking for a worker
	noWorker   atomic.Uint64 // answered 503: no worker ready (or a wake that failed)
	badGateway atomic.Uint64 // answered 502: the worker failed the request
}

// Counts are the proxy's totals, for metrics.
type Counts struct {
	// Requests counts the requests the proxy went to give a worker, each
	// once (whether a worker answered it or not); requests refused
	// before that (a malformed head, a bad body) are not counted.
	Requests uint64
	// NoWorker counts the requests procmon answered 503 itself: no worker
	// was ready, or an idle app's wake did not bring one up in time.
	NoWorker uint64
	// BadGateway counts the requests procmon answered 502 itself: the
	// worker could not be reached or broke off before its answer.
	BadGateway uint64
}

// Counts returns the proxy's totals since NewPool.
func (p *Pool) Counts() Counts {
	return Counts{Requests: p.counts.requests.Load(), NoWorker: p.counts.noWorker.Load(), BadGateway: p.counts.badGateway.Load()}
}

// countAnswer counts an answer procmon gave itself instead of a worker.
func (p *Pool) countAnswer(code int) {
	switch code {
	case http.StatusServiceUnavailable:
		p.counts.noWorker.Add(1)
	case http.StatusBadGateway:
		p.counts.badGateway.Add(1)
	}
}

// NewPool is an empty rotation: requests are answered 503 until Set.
func NewPool() *Pool {
	p := &Pool{}
	p.backends.Store(&[]*Backend{})
	ch := make(chan struct{})
	p.changed.Store(&ch)
	return p
}

// Set replaces the rotation with bs. It is called from one goroutine at
// a time (the supervisor's loop).
func (p *Pool) Set(bs []*Backend) {
	p.backends.Store(&bs)
	ch := make(chan struct{})
	close(*p.changed.Swap(&ch)) // after the store: a waiter that wakes sees bs
}

// pick returns the backend with the fewest requests in flight, ties broken
// round robin, and counts the request on it before returning.
//
// A backend is retired (see Backend.Retire) before its drain checks
// that nothing is in flight, and pick checks retired after counting: so
// either the drain sees the request, or pick sees the retirement and goes
// elsewhere. A reload sets the new list before it retires the old one, so
// a pick that read the old list just before the switch and found all of
// it retired takes the list again: it has changed, and the new one serves
// (before, that request was answered 503 in the middle of a reload:
// TestPickNeverEmptyAcrossASwitch). It returns nil only when the list it
// looked at is still the pool's.
func (p *Pool) pick(skip []*Backend) *Backend {
	for {
		list := p.backends.Load()
		if b := p.pickFrom(*list, skip); b != nil {
			return b
		}
		if p.backends.Load() == list {
			return nil
		}
	}
}

func (p *Pool) pickFrom(bs []*Backend, skip []*Backend) *Backend {
	n := len(bs)
	if n == 0 {
		return nil
	}
	start := int(p.next.Add(1) % uint64(n))
	for range n {
		var best *Backend
		for i := range n {
			b := bs[(start+i)%n]
			if slices.Contains(skip, b) || b.retired.Load() {
				continue
			}
			if best == nil || b.inflight.Load() < best.inflight.Load() {
				best = b
			}
		}
		if best == nil {
			return nil
		}
		best.inflight.Add(1)
		if !best.retired.Load() {
			p.picks.Add(1)
			return best
		}
		best.inflight.Add(-1)
	}
	return nil
}
