package control

import (
	"strings"
	"testing"
)

// TestRenderStatusLongLived: status shows the open long-lived connections
// per generation, and nothing when there are none.
func TestRenderStatusLongLived(t *testing.T) {
	s := Status{App: "app", Workers: []Worker{
		{ID: "1", Generation: 2, LongLived: 3}, {ID: "2", Generation: 2, LongLived: 4}, {ID: "1", Generation: 3, LongLived: 1},
	}}
	var out strings.Builder
	if err := RenderStatus(&out, s); err != nil {
		t.Fatal(err)
	}
	if want := "long-lived connections: generation 2: 7, generation 3: 1\n"; !strings.Contains(out.String(), want) {
		t.Fatalf("status:\n%s\nwant a line %q", out.String(), want)
	}
	out.Reset()
	s.Workers = []Worker{{ID: "1", Generation: 2}}
	RenderStatus(&out, s)
	if strings.Contains(out.String(), "long-lived") {
		t.Fatalf("status without long-lived connections mentions them:\n%s", out.String())
	}
}
