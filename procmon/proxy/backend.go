package proxy

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Backend is one ready worker in the proxy's rotation: its address, the
// requests in flight on it, and the connections kept open to it.
type Backend struct {
	addr     string
	label    string
	inflight atomic.Int64
	retired  atomic.Bool // draining or stopped: takes no new requests

	// std carries the requests the fast path hands over to net/http
	// (bodies, upgrades, HTTP/1.0); conns, the fast path's own.
	std   *http.Transport
	conns fastConns
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

// CloseIdle closes the idle keep-alive connections to the worker (it is
// draining or has exited); connections in use are closed when their
// request ends.
func (b *Backend) CloseIdle() {
	b.std.CloseIdleConnections()
	b.conns.closeIdle()
}
