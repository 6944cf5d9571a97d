package proxy

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// Workers that misbehave, clients that leave, and a proxy closed under
// load: the review findings on the fast path, each with the test that
// failed before its fix (helpers in server_test.go).

// startRawWorker runs a worker that answers each request with the raw
// bytes answer returns (framing mistakes included), and returns it as a
// backend.
func startRawWorker(t *testing.T, answer func(r *http.Request) string) *Backend {
	return startConnWorker(t, "raw", 100, func(nc net.Conn, br *bufio.Reader) {
		for range 100 {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			nc.Write([]byte(answer(r)))
		}
	})
}

// startConnWorker runs a worker on a loopback port that hands each of its
// first conns connections, with a deadline of testWait, to serve in a
// goroutine of its own, and returns it as a backend named name.
func startConnWorker(t *testing.T, name string, conns int, serve func(nc net.Conn, br *bufio.Reader)) *Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for range conns {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(testWait))
				serve(nc, bufio.NewReader(nc))
			}()
		}
	}()
	return NewBackend(ln.Addr().(*net.TCPAddr).Port, name)
}

// TestProxyNeverPassesLeftoverBytesToAnotherClient: a worker that sends
// more than the answer's framing says (a body with a HEAD or 204 answer,
// more than its Content-Length) leaves bytes on its connection. They must
// never be read as the next request's answer, which would hand another
// client a forged answer, on the fast path or on net/http's.
func TestProxyNeverPassesLeftoverBytesToAnotherClient(t *testing.T) {
	evil := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
	b := startRawWorker(t, func(r *http.Request) string {
		switch r.URL.Path {
		case "/head":
			return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(evil)) + "\r\n\r\n" + evil
		case "/204":
			return "HTTP/1.1 204 No Content\r\n\r\n" + evil
		case "/long":
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + evil
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nvictim"
	})
	f := startFrontWith(t, nil)
	f.p.Set([]*Backend{b})
	for _, tc := range []struct{ method, path, extra string }{
		{"HEAD", "/head", ""}, {"GET", "/204", ""}, {"GET", "/long", ""},
		{"HEAD", "/head", "Te: trailers\r\n"}, // handed over to net/http
	} {
		a := f.dial(t)
		a.send(tc.method + " " + tc.path + " HTTP/1.1\r\nHost: x\r\n" + tc.extra + "\r\n")
		a.read(tc.method)
		time.Sleep(20 * time.Millisecond) // let the stray bytes arrive
		for _, extra := range []string{"", "Te: trailers\r\n"} {
			v := f.dial(t)
			v.send("GET /victim HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n")
			if resp, body := v.read("GET"); resp.StatusCode != 200 || body != "victim" {
				t.Errorf("after %s %s (%q): another client's GET got %d %q, want 200 \"victim\"", tc.method, tc.path, tc.extra, resp.StatusCode, body)
			}
		}
	}
}

// TestProxyBareLFAnswerFailsAtOnce: an answer head with bare LF line ends
// is a 502 at once, not a request left hanging until the worker closes.
func TestProxyBareLFAnswerFailsAtOnce(t *testing.T) {
	b := startRawWorker(t, func(*http.Request) string { return "HTTP/1.1 200 OK\nContent-Length: 2\n\nok" })
	f := startFrontWith(t, nil)
	f.p.Set([]*Backend{b})
	c := f.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, _ := c.read("GET"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if n := b.inflight.Load(); n != 0 {
		t.Fatalf("%d requests still counted in flight", n)
	}
}

// TestProxyClientLeavingAStreamEndsIt: a client that leaves while the
// worker streams an answer (server-sent events) ends the worker's
// request, and it stops counting as in flight, so a drain is not held up.
func TestProxyClientLeavingAStreamEndsIt(t *testing.T) {
	started, ended := make(chan struct{}, 1), make(chan struct{}, 1)
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			ended <- struct{}{}
		case <-time.After(testWait):
		}
	})
	f := startFrontWith(t, func(s *Server) { s.watchAfter = 10 * time.Millisecond }, worker)
	c := f.dial(t)
	c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(c.br, &http.Request{Method: "GET"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, started, "the stream to start")
	c.nc.Close()
	waitFor(t, ended, "the worker's stream to end after the client left")
	b := (*f.p.backends.Load())[0]
	for deadline := time.Now().Add(testWait); b.inflight.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still counted in flight", b.inflight.Load())
		}
	}
}

// TestProxyRetryKeepsPipelinedRequest: a request sent again (its pooled
// worker connection died) while the client had already pipelined the
// next one: the byte the client watch kept is not overwritten by a second
// watch, so the next request arrives whole.
func TestProxyRetryKeepsPipelinedRequest(t *testing.T) {
	var dies atomic.Int64
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/die" {
			time.Sleep(120 * time.Millisecond)
			if dies.Add(1) == 1 {
				nc, _, _ := w.(http.Hijacker).Hijack()
				nc.Close() // nothing answered: the proxy sends it again
				return
			}
		}
		echo(w, r)
	})
	f := startFrontWith(t, func(s *Server) { s.watchAfter = 50 * time.Millisecond }, worker)
	c := f.dial(t)
	c.get("/a", 200, "GET /a ") // the worker connection is now pooled: reused below
	c.send("GET /die HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(15 * time.Millisecond)
	c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "GET /die " {
		t.Fatalf("/die: %d %q", resp.StatusCode, body)
	}
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "GET /next " {
		t.Fatalf("pipelined /next: %d %q, want 200 \"GET /next \"", resp.StatusCode, body)
	}
}

// TestProxyCloseEndsStreamsAtOnce: Close while a Shutdown waits for a
// stream cuts the stream's worker connection, so Shutdown returns now,
// not when the worker ends the stream.
func TestProxyCloseEndsStreamsAtOnce(t *testing.T) {
	started := make(chan struct{}, 1)
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(testWait):
		}
	})
	f := startFrontWith(t, func(s *Server) { s.watchAfter = time.Hour }, worker)
	c := f.dial(t)
	c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, started, "the stream to start")
	shut := f.shutdown()
	time.Sleep(50 * time.Millisecond)
	f.srv.Close()
	select {
	case <-shut:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown still waits 5 s after Close")
	}
}

// TestProxyAddsMissingDate: an answer without a Date gets one, as a proxy
// must add it; one with a Date keeps the worker's.
func TestProxyAddsMissingDate(t *testing.T) {
	b := startRawWorker(t, func(r *http.Request) string {
		if r.URL.Path == "/dated" {
			return "HTTP/1.1 200 OK\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: 0\r\n\r\n"
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	})
	f := startFrontWith(t, nil)
	f.p.Set([]*Backend{b})
	c := f.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := c.read("GET")
	if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date %q (%v), want the time now", resp.Header.Get("Date"), err)
	}
	c.send("GET /dated HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.read("GET"); len(resp.Header["Date"]) != 1 || resp.Header.Get("Date") != "Mon, 02 Jan 2006 15:04:05 GMT" {
		t.Errorf("Date %q, want the worker's only", resp.Header["Date"])
	}
}

// TestProxyNeverPicksARetiredWorker: a worker taken out of service (its
// drain is about to check that nothing is in flight) gets no new request,
// even while it is still in the list a request read.
func TestProxyNeverPicksARetiredWorker(t *testing.T) {
	p := newTestProxy(slog.New(slog.DiscardHandler))
	a, b := NewBackend(1, "a"), NewBackend(2, "b")
	p.Set([]*Backend{a, b})
	a.retired.Store(true)
	for range 10 {
		if got := p.pick(nil); got != b {
			t.Fatalf("picked %v, want b", got.label)
		}
		b.inflight.Add(-1)
	}
	b.retired.Store(true)
	if got := p.pick(nil); got != nil {
		t.Fatalf("picked %s with every worker retired, want none", got.label)
	}
	if a.inflight.Load() != 0 || b.inflight.Load() != 0 {
		t.Fatalf("in flight: a %d, b %d; want 0", a.inflight.Load(), b.inflight.Load())
	}
}
