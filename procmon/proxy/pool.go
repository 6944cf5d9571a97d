package proxy

import (
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
// elsewhere, even when it read the backend list just before the switch.
func (p *Pool) pick(skip []*Backend) *Backend {
	bs := *p.backends.Load()
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
