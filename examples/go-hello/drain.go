package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// drainer stops a server that shares its listening socket with the next
// generation (procmon's socket mode) without failing a single request.
// http.Server.Shutdown alone is not enough there: it closes idle
// keep-alive connections that a client may be writing its next request to
// at that very moment, and the client sees EOF. So: answer every request
// with "Connection: close" from the start of the drain (keep-alive
// clients then reconnect, and the new generation accepts them), stop
// accepting, give the open connections a moment to finish, then Shutdown.
type drainer struct {
	draining atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

func newDrainer() *drainer { return &drainer{conns: map[net.Conn]bool{}} }

// wrap marks answers "Connection: close" once the drain started.
func (d *drainer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// track is the server's ConnState hook: it counts open connections.
func (d *drainer) track(c net.Conn, s http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(d.conns, c)
	default:
		d.conns[c] = true
	}
}

func (d *drainer) open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// stop drains srv, serving on ln, within ctx.
func (d *drainer) stop(ctx context.Context, srv *http.Server, ln net.Listener) error {
	d.draining.Store(true)
	ln.Close() // our copy only: the next generation keeps accepting
	for deadline := time.Now().Add(2 * time.Second); d.open() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	return srv.Shutdown(ctx)
}
