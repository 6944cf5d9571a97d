//go:build linux

package proxy

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// parkedCount is how many connections f's parker holds.
func (f *testFront) parkedCount() int {
	f.srv.mu.Lock()
	p := f.srv.park
	f.srv.mu.Unlock()
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// waitParked waits until f's parker holds n connections.
func (f *testFront) waitParked(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(testWait); f.parkedCount() != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections parked, want %d", f.parkedCount(), n)
		}
	}
}

// tracked is how many fast-path connections f's server counts.
func (f *testFront) tracked() int {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	return len(f.srv.conns)
}

// TestParkedConnectionServesItsNextRequests: a keep-alive connection
// idle for parkAfter is parked (no goroutine of its own), and its next
// requests are served as before, on the same worker connection; one
// busier than that is never parked.
func TestParkedConnectionServesItsNextRequests(t *testing.T) {
	worker, workerConns := startWorker(t, echo)
	f := startFront(t, worker)
	c := f.dial(t)
	c.get("/one", 200, "GET /one ")
	f.waitParked(t, 1)
	for range 3 {
		c.get("/again", 200, "GET /again ")
		if f.parkedCount() != 0 {
			t.Fatalf("a connection that just sent a request is still parked")
		}
		f.waitParked(t, 1)
	}
	busy := f.dial(t)
	for range 10 {
		busy.get("/busy", 200, "GET /busy ")
		time.Sleep(parkAfter / 5)
	}
	if n := f.parkedCount(); n != 1 {
		t.Errorf("%d connections parked, want 1: a client that sends a request every %s was parked", n, parkAfter/5)
	}
	if n := workerConns.Load(); n > 2 {
		t.Errorf("%d worker connections for 2 keep-alive clients", n)
	}
}

// TestParkedConnectionIdleTimeout: a parked connection is closed at its
// idle_timeout, counted from its last request, and forgotten.
func TestParkedConnectionIdleTimeout(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFrontConfig(t, Config{IdleTimeout: 1500 * time.Millisecond}, nil, worker)
	c := f.dial(t)
	c.get("/one", 200, "GET /one ")
	start := time.Now()
	f.waitParked(t, 1)
	c.expectEOF()
	if took := time.Since(start); took < time.Second || took > 4*time.Second {
		t.Errorf("a parked connection was closed %s after its last request, want at its idle_timeout (1.5s)", took)
	}
	for deadline := time.Now().Add(testWait); f.tracked() != 0 || f.parkedCount() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections tracked, %d parked after the idle timeout closed the only one", f.tracked(), f.parkedCount())
		}
	}
}

// TestParkedConnectionClientLeaves: a client that closes its parked
// connection wakes it, and the server forgets it at once.
func TestParkedConnectionClientLeaves(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFront(t, worker)
	c := f.dial(t)
	c.get("/one", 200, "GET /one ")
	f.waitParked(t, 1)
	c.nc.Close()
	for deadline := time.Now().Add(2 * time.Second); f.tracked() != 0 || f.parkedCount() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections tracked, %d parked 2 s after the client closed its parked connection", f.tracked(), f.parkedCount())
		}
	}
}

// TestShutdownClosesParkedConnections: a graceful shutdown closes parked
// connections as it closes idle ones, and returns at once, while a
// request in flight on another connection is still answered.
func TestShutdownClosesParkedConnections(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		echo(w, r)
	})
	f := startFront(t, worker)
	var parked []*rawClient
	for range 3 {
		c := f.dial(t)
		c.get("/one", 200, "GET /one ")
		parked = append(parked, c)
	}
	f.waitParked(t, 3)
	slow := f.dial(t)
	slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(testWait):
		t.Fatal("the slow request never reached the worker")
	}
	done := make(chan error, 1)
	go func() { done <- f.srv.Shutdown(context.Background()) }()
	for _, c := range parked {
		c.expectEOF()
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if resp, body := slow.read("GET"); resp.StatusCode != 200 || body != "GET /slow " {
		t.Errorf("the request in flight got %d %q", resp.StatusCode, body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Shutdown did not return once the last request was answered")
	}
}
