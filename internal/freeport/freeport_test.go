package freeport

import "testing"

// TestPortNeverRepeats: ports handed out one after the other, each
// closed at once as a caller's would be before its server binds, are all
// different (the kernel alone may give a just-closed port again).
func TestPortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
