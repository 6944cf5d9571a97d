package proxy

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPickNeverEmptyAcrossASwitch: a reload gives the pool the new
// generation's list (Set) and then retires the old workers. A request
// that read the old list just before the Set finds all of it retired; it
// must take the new list, not answer 503. Pickers race a switcher that
// swaps two lists of workers back and forth (bounded in count and time).
func TestPickNeverEmptyAcrossASwitch(t *testing.T) {
	p := NewPool()
	gen := func() []*Backend { return []*Backend{NewBackend(1, "a"), NewBackend(2, "b")} }
	p.Set(gen())
	var stop atomic.Bool
	var empty, picks atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b := p.pick(nil)
				if b == nil {
					empty.Add(1)
					continue
				}
				picks.Add(1)
				b.inflight.Add(-1)
			}
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	switches := 0
	for ; switches < 200_000 && time.Now().Before(deadline) && empty.Load() == 0; switches++ {
		old := *p.backends.Load()
		p.Set(gen()) // as switchOver: the new list first,
		for _, b := range old {
			b.Retire() // then the old generation retired
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := empty.Load(); n > 0 {
		t.Fatalf("%d of %d picks found no worker across %d switches, though every switch put a ready list in place before retiring the old one (a 503 during a reload)", n, n+picks.Load(), switches)
	}
	t.Logf("%d picks across %d switches, none empty", picks.Load(), switches)
}
