package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// singleThreadedWorker serves one connection at a time and one request
// per connection, reading the whole body first, as a gunicorn sync
// worker, a Unicorn or a PHP-FPM child does. It returns a server whose
// URL the proxy's helpers take, and the number of requests answered.
func singleThreadedWorker(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.SetDeadline(time.Now().Add(testWait))
			if req, err := http.ReadRequest(bufio.NewReader(nc)); err == nil {
				body, _ := io.ReadAll(req.Body)
				served.Add(1)
				fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body)+2, "ok"+string(body))
			}
			nc.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return &httptest.Server{URL: "http://" + ln.Addr().String(), Listener: ln}, &served
}

// TestProxyStalledBodiesDoNotHoldASingleThreadedWorker: two clients that
// stall mid-body do not keep a single-threaded worker from answering a
// third client: bodies are read before a worker is picked (before the
// fix, the worker waited for the first stalled body and answered no one).
func TestProxyStalledBodiesDoNotHoldASingleThreadedWorker(t *testing.T) {
	worker, served := singleThreadedWorker(t)
	f := startFrontConfig(t, Config{}, nil, worker)
	for range 2 {
		c := f.dial(t)
		c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part")
	}
	chunked := f.dial(t)
	chunked.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\nonly a part")
	time.Sleep(100 * time.Millisecond) // let them reach the proxy first
	for _, req := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"} {
		c := f.dial(t)
		c.nc.SetDeadline(time.Now().Add(5 * time.Second))
		c.send(req)
		if resp, body := c.read("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "ok") {
			t.Fatalf("third client: %d %q", resp.StatusCode, body)
		}
	}
	if n := served.Load(); n != 2 {
		t.Fatalf("the worker served %d requests, want 2 (the stalled ones never reach it)", n)
	}
}

// TestProxyBodyTimeout: a body that stalls longer than body_timeout is
// answered 408 and closed; the worker never sees it.
func TestProxyBodyTimeout(t *testing.T) {
	worker, served := singleThreadedWorker(t)
	f := startFrontConfig(t, Config{BodyTimeout: 200 * time.Millisecond}, nil, worker)
	c := f.dial(t)
	c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part")
	start := time.Now()
	if resp, _ := c.read("POST"); resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("answered %d (close %v), want 408 and close", resp.StatusCode, resp.Close)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("answered after %v", d)
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("the worker served %d requests", n)
	}
}

// TestProxyMalformedChunkedBody: a chunked body with bad framing is
// answered 400 before a worker sees it (it used to reach the worker,
// which answered 502 through the proxy).
func TestProxyMalformedChunkedBody(t *testing.T) {
	var rec recordingWorker
	worker, _ := startWorker(t, rec.serve)
	f := startFront(t, worker)
	for name, body := range map[string]string{
		"size 0x5":         "0x5\r\nhello\r\n0\r\n\r\n",
		"size overflow":    "fffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
		"negative size":    "-5\r\nhello\r\n0\r\n\r\n",
		"data without end": "5\r\nhelloXX\r\n0\r\n\r\n",
		"size not hex":     "zz\r\nhello\r\n0\r\n\r\n",
		"cut short":        "5\r\nhel",
	} {
		t.Run(name, func(t *testing.T) {
			c := f.dial(t)
			c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
			if name == "cut short" {
				c.nc.(*net.TCPConn).CloseWrite()
			}
			if resp, _ := c.read("POST"); resp.StatusCode != 400 || !resp.Close {
				t.Errorf("answered %d (close %v), want 400 and close", resp.StatusCode, resp.Close)
			}
			if got := rec.take(); len(got) != 0 {
				t.Errorf("the worker saw %+v", got)
			}
		})
	}
	// A good one is de-chunked: the worker sees its Content-Length.
	c := f.dial(t)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	if resp, _ := c.read("POST"); resp.StatusCode != 200 {
		t.Fatalf("good chunked body: %d", resp.StatusCode)
	}
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("the worker saw %d requests", len(got))
	} else {
		wantBody(t, got[0], "hello")
	}
}

// TestProxySendTimeout: a client that stops reading a long answer is
// dropped after send_timeout, which ends the worker's request, on the
// fast path (GET) and on net/http's (POST).
func TestProxySendTimeout(t *testing.T) {
	ended := make(chan error, 2)
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 4096 { // 256 MB at most: far more than socket buffers
			if _, err := w.Write(chunk); err != nil {
				ended <- err
				return
			}
		}
		ended <- nil
	})
	f := startFrontConfig(t, Config{SendTimeout: 300 * time.Millisecond}, nil, worker)
	for _, req := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"} {
		c := f.dial(t)
		c.send(req) // and never read
		select {
		case err := <-ended:
			if err == nil {
				t.Fatalf("%q: the worker wrote its whole answer to a client that reads nothing", req[:4])
			}
		case <-time.After(testWait):
			t.Fatalf("%q: the worker is still writing to a client that stopped reading", req[:4])
		}
	}
}

// TestProxyBadBodyAboveBuffer: a body larger than buffer_body streams to
// the worker; when it then turns out malformed (bad chunked framing) or
// stalls past body_timeout, the client is answered 400 or 408 and its
// connection closed, as for a buffered body (it used to get a 502, as if
// the worker had failed), and the worker's request is cut at once: a
// stalled body holds a worker at most body_timeout.
func TestProxyBadBodyAboveBuffer(t *testing.T) {
	var workerErr atomic.Value
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		workerErr.Store(fmt.Sprint(err))
		if err == nil {
			io.WriteString(w, "whole")
		}
	})
	f := startFrontConfig(t, Config{BufferBody: 1024, BodyTimeout: 300 * time.Millisecond}, nil, worker)
	big := fmt.Sprintf("800\r\n%s\r\n", strings.Repeat("b", 0x800))
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"malformed chunk after the buffer", big + "zz\r\nhello\r\n0\r\n\r\n", http.StatusBadRequest},
		{"stalled after the buffer", big, http.StatusRequestTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			workerErr.Store("")
			c := f.dial(t)
			c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + tc.body)
			start := time.Now()
			if resp, _ := c.read("POST"); resp.StatusCode != tc.code || !resp.Close {
				t.Errorf("answered %d (close %v), want %d and close", resp.StatusCode, resp.Close, tc.code)
			}
			c.expectEOF()
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("answered after %v", d)
			}
			for deadline := time.Now().Add(testWait); workerErr.Load() == ""; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the worker's request was not cut")
				}
			}
			if got := workerErr.Load(); got == "<nil>" {
				t.Errorf("the worker read the body to its end (%s): it should see it cut", got)
			}
		})
	}
	// A good one streams whole.
	c := f.dial(t)
	c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + big + "0\r\n\r\n")
	if resp, body := c.read("POST"); resp.StatusCode != 200 || body != "whole" {
		t.Fatalf("good large chunked body: %d %q", resp.StatusCode, body)
	}
}
