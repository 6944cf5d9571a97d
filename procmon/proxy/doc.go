// Package proxy is procmon's HTTP/1.1 front in proxy mode: it owns the
// public port's connections, reads and checks request heads, and passes
// requests to the ready workers of a Pool over kept-alive connections.
//
// Every client connection starts on the fast path (conn.go): one
// goroutine reads a plain GET or HEAD head itself (parse_request.go),
// writes it to a pooled worker connection (exchange.go, workerconns.go)
// and relays the answer (relay.go, parse_answer.go); a request still waiting for its
// worker after 50 ms watches its client (watch.go). The first request
// that is anything else is handed, bytes already read included, to a
// net/http server (handoff.go) running httputil.ReverseProxy
// (handler.go).
//
// A keep-alive connection idle for a quarter of a second is parked
// (park_linux.go): its goroutine ends, an epoll set of the Server's own
// watches it, and a new goroutine serves its next request; its
// keepalive_timeout and a shutdown close it as before.
//
// Upgrades (tunnel.go) and answers that stream without a length
// (stream.go, and stream_std.go for those net/http relays) are
// long-lived: counted per Backend, and ended by one drain spread over a
// window, a stream at its next boundary.
//
// The supervisor (package procmon) owns the workers: it makes a Backend
// for each ready worker, gives the current ones to Pool.Set, and retires a
// draining worker's Backend before it waits for InFlight to reach zero.
package proxy
