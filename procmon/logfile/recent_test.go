package logfile

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestRawRingWrapsAround(t *testing.T) {
	var r rawRing
	for i := 0; i < rawLines+5; i++ {
		r.add([]byte(strconv.Itoa(i)))
	}
	if got := fmt.Sprint(r.last(3, nil)); got != fmt.Sprint([]string{"1002", "1003", "1004"}) {
		t.Fatalf("last 3 = %s", got)
	}
	odd := r.last(2, func(s string) bool { n, _ := strconv.Atoi(s); return n%2 == 1 })
	if fmt.Sprint(odd) != "[1001 1003]" {
		t.Fatalf("filtered = %v", odd)
	}
	if all := r.last(5000, nil); len(all) != rawLines || all[0] != "5" {
		t.Fatalf("all: %d lines from %q", len(all), all[0])
	}
	r.add([]byte(strings.Repeat("x", 2000)))
	if l := r.last(1, nil)[0]; len(l) != rawLineCap {
		t.Fatalf("kept %d bytes of a long line", len(l))
	}
}

func TestRecentPerGeneration(t *testing.T) {
	r := newRecent(3, 2)
	for gen := 1; gen <= 3; gen++ {
		for i := 0; i < 5; i++ {
			r.add(gen, fmt.Sprintf("g%d-%d", gen, i))
		}
	}
	r.add(1, "too old") // older than everything kept: ignored
	tests := []struct {
		gen, n int
		want   string
	}{
		{3, 2, "[g3-3 g3-4]"}, {3, 10, "[g3-2 g3-3 g3-4]"}, {2, 1, "[g2-4]"}, {1, 3, "[]"}, {3, 0, "[]"}, {3, -1, "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(r.get(tt.gen, tt.n)); got != tt.want {
			t.Errorf("get(%d, %d) = %s, want %s", tt.gen, tt.n, got, tt.want)
		}
	}
}
