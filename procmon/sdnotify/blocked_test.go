package sdnotify

import (
	"path/filepath"
	"testing"
	"time"
)

// TestSendToAFullQueueDoesNotHang sends to a receiver that never reads:
// once its queue is full a send fails after sendTimeout instead of
// blocking the daemon's loop forever.
func TestSendToAFullQueueDoesNotHang(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := NewNotifier(l.Path())
	start := time.Now()
	var failed error
	for i := 0; i < 1000 && failed == nil && time.Since(start) < 20*time.Second; i++ {
		failed = n.Status("busy")
	}
	if failed == nil {
		t.Skip("the datagram queue never filled")
	}
	if d := time.Since(start); d > sendTimeout+5*time.Second {
		t.Fatalf("sends to a full queue took %s", d)
	}
}
