package procmon

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	var b Backoff // the defaults: 1s doubling to 30s
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func TestSlotBackoff(t *testing.T) {
	b := Backoff{}
	steps := []struct {
		uptime    time.Duration
		wasReady  bool
		wantDelay time.Duration
		wantLoop  bool
	}{
		{time.Minute, true, time.Second, false},         // crashed after a long run: first delay
		{5 * time.Second, true, 2 * time.Second, false}, // crashed again soon: doubled
		{time.Second, false, 4 * time.Second, false},    // died before ready (1)
		{time.Second, false, 8 * time.Second, false},    // (2)
		{time.Second, false, 30 * time.Second, true},    // (3): crash loop, the longest delay
		{time.Second, false, 30 * time.Second, true},
		{40 * time.Second, true, time.Second, false}, // up for more than 30s: counted from zero
	}
	var s slotBackoff
	for i, st := range steps {
		d, loop := s.crashed(b, st.uptime, st.wasReady)
		if d != st.wantDelay || loop != st.wantLoop {
			t.Fatalf("step %d: delay %s loop %v, want %s %v", i, d, loop, st.wantDelay, st.wantLoop)
		}
	}
	if s.total != len(steps) {
		t.Fatalf("total restarts %d", s.total)
	}
}
