package proxy

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Backend is one ready worker in the proxy's rotation: its address, the
// requests in flight on it, and the connections kept open to it.
type Backend struct {
	addr     string
	label    string
	inflight atomic.Int64
	answers  atomic.Int64 // answer heads the worker sent (Answers)
	retired  atomic.Bool  // draining or stopped: takes no new requests

	// std carries the requests the fast path hands over to net/http
	// (bodies, upgrades, HTTP/1.0); conns, the fast path's own.
	std   *http.Transport
	conns fastConns

	// long holds the open upgrades and streamed answers, each keyed by
	// what carries it (the *serverConn of procmon's own loop, the
	// *stdStream of an answer net/http relays), with how a drain ends it.
	mu   sync.Mutex
	long map[any]func()
}

// NewBackend is the worker listening on 127.0.0.1:port; label names it in
// logs.
func NewBackend(port int, label string) *Backend {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &Backend{
		addr:  addr,
		label: label,
		std: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
		},
		conns: fastConns{addr: addr, dialer: dialer, maxIdle: 1024, idleTimeout: 60 * time.Second},
	}
}

// Retire takes the backend out of the rotation for good: no new request
// goes to it. Call it before looking at InFlight to drain it; see
// Pool.pick for why that order is enough.
func (b *Backend) Retire() { b.retired.Store(true) }

// InFlight is the number of requests on the backend not yet answered to
// the end, streamed answers and upgraded connections included.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Answers counts the answers (their heads) the worker has sent to proxied
// requests: a worker whose count moves is working, whatever else waits
// for it (procmon's heartbeat tells busy from hung by it).
func (b *Backend) Answers() int64 { return b.answers.Load() }

// CloseIdle closes the idle keep-alive connections to the worker (it is
// draining or has exited); connections in use are closed when their
// request ends.
func (b *Backend) CloseIdle() {
	b.std.CloseIdleConnections()
	b.conns.closeIdle()
}

// track counts a long-lived connection (an upgrade, a streamed answer)
// on the backend while it is open, so that a drain can end it (with end,
// called with b.mu held) and status can show it.
func (b *Backend) track(c any, end func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.long == nil {
		b.long = map[any]func(){}
	}
	b.long[c] = end
}

// untrack ends the count of track.
func (b *Backend) untrack(c any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.long, c)
}

// LongLived is the number of long-lived connections open on the
// backend: upgrades, and answers still streaming without a length (event
// streams).
func (b *Backend) LongLived() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.long)
}

// Drain ends the backend's long-lived connections spread evenly over
// window, the last at its end, so that their clients (WebSocket, event
// streams) do not all reconnect in the same second: an upgrade is closed,
// a streamed answer ends at its next boundary (stream.go). Call it after
// Retire: the connections ended are those open now.
func (b *Backend) Drain(window time.Duration) {
	b.mu.Lock()
	conns := make([]any, 0, len(b.long))
	for c := range b.long {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	for i, c := range conns {
		at := window * time.Duration(i+1) / time.Duration(len(conns))
		time.AfterFunc(at, func() { b.end(c) })
	}
}

// end ends c if it is still counted as long-lived on b.
func (b *Backend) end(c any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if end := b.long[c]; end != nil {
		end()
	}
}
