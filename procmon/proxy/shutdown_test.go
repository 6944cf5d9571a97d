package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Shutdown and client departure on the proxy's own server, over raw TCP
// (helpers in server_test.go).

// slowWorker holds /slow requests until release is closed (or testWait),
// telling arrived about each; when the client goes away first it tells
// ended.
type slowWorker struct {
	arrived, ended, release chan struct{}
}

func startSlowWorker(t *testing.T) (*httptest.Server, *slowWorker) {
	s := &slowWorker{arrived: make(chan struct{}, 4), ended: make(chan struct{}, 4), release: make(chan struct{})}
	w, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			echo(w, r)
			return
		}
		s.arrived <- struct{}{}
		select {
		case <-s.release:
			io.WriteString(w, "slow done")
		case <-r.Context().Done():
			s.ended <- struct{}{}
		case <-time.After(testWait):
		}
	})
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
	})
	return w, s
}

// waitFor waits, boundedly, on a channel.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// idleConns counts the fast path's connections waiting for a request.
func (f *testFront) idleConns() (idle, all int) {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	for c := range f.srv.conns {
		if c.idle {
			idle++
		}
	}
	return idle, len(f.srv.conns)
}

// waitIdle waits until the fast path holds want idle connections of all.
func (f *testFront) waitIdle(t *testing.T, want, all int) {
	t.Helper()
	for deadline := time.Now().Add(testWait); ; time.Sleep(5 * time.Millisecond) {
		idle, n := f.idleConns()
		if idle == want && n == all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections idle, want %d of %d", idle, n, want, all)
		}
	}
}

// shutdown runs f's Shutdown in the background.
func (f *testFront) shutdown() <-chan error {
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		shut <- f.srv.Shutdown(ctx)
	}()
	return shut
}

// TestProxyShutdown: Shutdown closes an idle connection at once, lets the
// request in flight finish (saying Connection: close), on the fast path
// or handed over, returns once it has, and new connections are refused
// from its start.
func TestProxyShutdown(t *testing.T) {
	for _, tc := range []struct{ name, req, method string }{
		{"fast path", "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", "GET"},
		{"handed over", "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			worker, slow := startSlowWorker(t)
			f := startFront(t, worker)
			idle := f.dial(t)
			idle.get("/warm", 200, "GET /warm ")
			busy := f.dial(t)
			busy.send(tc.req)
			waitFor(t, slow.arrived, "the slow request to reach the worker")
			fastConns := map[string]int{"GET": 2, "POST": 1}[tc.method]
			f.waitIdle(t, 1, fastConns)

			shut := f.shutdown()
			idle.expectEOF()
			if nc, err := net.Dial("tcp", f.addr); err == nil {
				nc.Close()
				t.Fatal("a new connection was accepted during Shutdown")
			}
			select { // a Shutdown that does not wait would return meanwhile
			case err := <-shut:
				t.Fatalf("Shutdown returned %v with a request in flight", err)
			case <-time.After(100 * time.Millisecond):
			}
			close(slow.release)
			resp, body := busy.read(tc.method)
			if resp.StatusCode != 200 || body != "slow done" || !resp.Close {
				t.Fatalf("in-flight request: %d %q close %v; want 200, Connection: close", resp.StatusCode, body, resp.Close)
			}
			busy.expectEOF()
			select {
			case err := <-shut:
				if err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			case <-time.After(testWait):
				t.Fatal("Shutdown did not return after the last request")
			}
			if nc, err := net.Dial("tcp", f.addr); err == nil {
				nc.Close()
				t.Fatal("a new connection was accepted after Shutdown")
			}
			if err := <-f.served; !errors.Is(err, http.ErrServerClosed) {
				t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
			}
			f.served <- http.ErrServerClosed // for the cleanup
		})
	}
}

// TestProxyShutdownAnswersArrivingRequest: a request whose head was
// already arriving when Shutdown began is answered, whether the fast path
// serves it or net/http does (net/http's own Shutdown answers such a
// request: the connection is active, not idle).
func TestProxyShutdownAnswersArrivingRequest(t *testing.T) {
	for _, tc := range []struct{ name, start, rest, method, body string }{
		{"GET", "GET /g HTTP/1.1\r\nHost: x\r\n", "\r\n", "GET", "GET /g "},
		{"POST", "POST /p HTTP/1.1\r\nHost: x\r\n", "Content-Length: 2\r\n\r\nhi", "POST", "POST /p hi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			worker, _ := startWorker(t, echo)
			f := startFront(t, worker)
			c := f.dial(t)
			c.get("/warm", 200, "GET /warm ")
			f.waitIdle(t, 1, 1)
			c.send(tc.start)
			f.waitIdle(t, 0, 1)
			shut := f.shutdown()
			for deadline := time.Now().Add(testWait); !f.srv.closing.Load(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("Shutdown did not begin")
				}
			}
			c.send(tc.rest)
			resp, err := http.ReadResponse(c.br, &http.Request{Method: tc.method})
			if err != nil {
				t.Fatalf("a %s whose head was arriving when Shutdown began got no answer: %v", tc.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != tc.body {
				t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, tc.body)
			}
			select {
			case err := <-shut:
				if err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			case <-time.After(testWait):
				t.Fatal("Shutdown did not return")
			}
		})
	}
}

// TestProxyRawClientGoneEndsWorkerRequest: a client that closes its
// socket while the worker is still thinking ends the worker's request,
// and the request no longer counts as in flight.
func TestProxyRawClientGoneEndsWorkerRequest(t *testing.T) {
	worker, slow := startSlowWorker(t)
	f := startFront(t, worker)
	c := f.dial(t)
	c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, slow.arrived, "the request to reach the worker")
	c.nc.Close()
	waitFor(t, slow.ended, "the worker's request to end after the client left")
	b := (*f.p.backends.Load())[0]
	for deadline := time.Now().Add(testWait); b.inflight.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still counted in flight", b.inflight.Load())
		}
	}
	if n := f.handed.Load(); n != 0 {
		t.Fatalf("%d connections handed over, want 0", n)
	}
}
