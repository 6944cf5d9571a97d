package procmon

import (
	"context"
	"testing"
	"time"
)

// TestPingFailsWhileTheLoopHangs hangs the supervisor's loop inside an
// OnEvent callback: Ping, which gates the systemd watchdog, must fail
// until the loop moves again.
func TestPingFailsWhileTheLoopHangs(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1})
	cfg, err := LoadConfig(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	hung, gate := make(chan struct{}), make(chan struct{})
	sup, err := New(cfg, Options{Output: a.out, OnEvent: func(e Event) {
		if e.Kind == EventReloading {
			close(hung)
			<-gate
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Ping(t.Context()); err == nil {
		t.Fatal("Ping before Run succeeded")
	}
	a.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- sup.Run(ctx) }()
	t.Cleanup(a.stop)
	a.waitState(StateReady, 20*time.Second)
	ping := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return sup.Ping(ctx)
	}
	if err := ping(10 * time.Second); err != nil {
		t.Fatalf("Ping of a live loop: %v", err)
	}
	sup.ReloadAsync("test")
	select {
	case <-hung:
	case <-time.After(20 * time.Second):
		close(gate)
		t.Fatalf("the reload never began\n%s", a.out)
	}
	if err := ping(300 * time.Millisecond); err == nil {
		t.Fatal("Ping succeeded while the loop hangs")
	}
	close(gate)
	if err := ping(10 * time.Second); err != nil {
		t.Fatalf("Ping after the loop moved again: %v", err)
	}
}
