package procmon

import "time"

// Backoff is the restart policy for crashed workers: Initial doubling up to
// Max, counted again from Initial once a worker stayed up for Reset.
type Backoff struct {
	// Initial is the first delay. Zero means 1s.
	Initial time.Duration
	// Max caps the delay; a crash-looping worker always waits Max. Zero
	// means 30s.
	Max time.Duration
	// Reset is the uptime after which a worker's restarts count from zero
	// again. Zero means 30s.
	Reset time.Duration
}

// crashLoopAfter is how many exits before ready, in a row, make a crash loop.
const crashLoopAfter = 3

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Reset <= 0 {
		b.Reset = 30 * time.Second
	}
	return b
}

// Delay returns how long to wait before restart number n (1 for the first
// restart after a crash, counted since the last reset).
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// slotBackoff is one worker slot's crash record; the supervisor loop owns it.
type slotBackoff struct {
	restarts    int // restarts since the last reset (drives Delay)
	total       int // restarts ever, for status
	beforeReady int // exits before ready, in a row
}

// crashed records an exit after uptime and returns the delay before the
// restart and whether the slot is now crash-looping.
func (s *slotBackoff) crashed(b Backoff, uptime time.Duration, wasReady bool) (time.Duration, bool) {
	b = b.withDefaults()
	if wasReady {
		s.beforeReady = 0
	} else {
		s.beforeReady++
	}
	if uptime >= b.Reset {
		s.restarts = 0
	}
	s.restarts++
	s.total++
	if s.beforeReady >= crashLoopAfter {
		return b.Max, true
	}
	return b.Delay(s.restarts), false
}
