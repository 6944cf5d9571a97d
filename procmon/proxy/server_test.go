package proxy

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests talk to the proxy's own server (server.go) over raw
// TCP, so that what is checked is the bytes on the wire: which requests
// the fast path serves itself, which it hands to net/http, and how it
// frames the worker's answers.

// testWait bounds every wait in these tests; none should come near it.
const testWait = 15 * time.Second

// testFront is a proxyServer on a loopback port, counting the
// connections it hands over to net/http.
type testFront struct {
	srv    *Server
	p      *handler
	addr   string
	handed atomic.Int64
	served chan error // Serve's result
}

func startFront(t *testing.T, workers ...*httptest.Server) *testFront {
	t.Helper()
	return startFrontWith(t, nil, workers...)
}

// startFrontWith lets set change the server before it serves.
func startFrontWith(t *testing.T, set func(*Server), workers ...*httptest.Server) *testFront {
	t.Helper()
	return startFrontConfig(t, Config{}, set, workers...)
}

// startFrontConfig starts a front with cfg.
func startFrontConfig(t *testing.T, cfg Config, set func(*Server), workers ...*httptest.Server) *testFront {
	t.Helper()
	p := newHandler(NewPool(), slog.New(slog.DiscardHandler), cfg)
	var bs []*Backend
	for _, w := range workers {
		bs = append(bs, backendFor(t, w.URL))
	}
	p.Set(bs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &testFront{srv: newServer(p, p.log), p: p, addr: ln.Addr().String(), served: make(chan error, 1)}
	f.srv.std.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.handed.Add(1)
		}
	}
	if set != nil {
		set(f.srv)
	}
	go func() { f.served <- f.srv.Serve(ln) }()
	t.Cleanup(func() {
		f.srv.Close()
		select {
		case <-f.served:
		case <-time.After(testWait):
			t.Error("Serve did not return after Close")
		}
	})
	return f
}

// startWorker runs h as a worker and counts the connections it accepts.
func startWorker(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	w := httptest.NewUnstartedServer(h)
	w.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	w.Start()
	t.Cleanup(w.Close)
	return w, &conns
}

// echo answers "METHOD /target body".
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
}

// rawClient is one TCP connection to the proxy.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (f *testFront) dial(t *testing.T) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testWait))
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one answer to a request with the given method, body and all.
func (c *rawClient) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("read the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read the answer's body: %v", err)
	}
	resp.Body.Close()
	return resp, string(body)
}

// get sends a plain GET for target and checks the answer.
func (c *rawClient) get(target string, code int, body string) *http.Response {
	c.t.Helper()
	c.send("GET " + target + " HTTP/1.1\r\nHost: example.test\r\n\r\n")
	resp, got := c.read("GET")
	if resp.StatusCode != code || got != body {
		c.t.Fatalf("GET %s: %d %q, want %d %q", target, resp.StatusCode, got, code, body)
	}
	return resp
}

// expectEOF checks that the proxy closed the connection.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	if b, err := c.br.ReadByte(); err != io.EOF {
		c.t.Fatalf("read %q, %v; want EOF (the proxy closes the connection)", b, err)
	}
}

// TestProxyFastPathKeepsConnections: plain GETs and HEADs on one client
// connection are served by the fast path (nothing handed to net/http)
// over one worker connection, with the forwarding headers set as the
// net/http path sets them (an untrusted client's own are replaced).
func TestProxyFastPathKeepsConnections(t *testing.T) {
	worker, workerConns := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fwd" {
			fmt.Fprintf(w, "%s|%s|%s|%s|%q", r.Host, r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-For"),
				r.Header.Get("X-Forwarded-Proto"), r.Header.Values("Forwarded"))
			return
		}
		echo(w, r)
	})
	f := startFront(t, worker)
	c := f.dial(t)
	for i := range 4 {
		c.get(fmt.Sprintf("/n%d?x=y", i), 200, fmt.Sprintf("GET /n%d?x=y ", i))
		c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.read("HEAD"); resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len("HEAD /h ")) {
			t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
		}
	}
	c.send("GET /fwd HTTP/1.1\r\nHost: example.test\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil\r\n" +
		"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n\r\n")
	if _, body := c.read("GET"); body != `example.test|example.test|127.0.0.1|http|[]` {
		t.Fatalf("forwarding headers: %s", body)
	}
	if n := f.handed.Load(); n != 0 {
		t.Fatalf("%d connections handed over to net/http, want 0", n)
	}
	if n := workerConns.Load(); n != 1 {
		t.Fatalf("the worker saw %d connections, want 1", n)
	}
}

// TestProxyHandOverMidConnection: a request that is not plain, after a
// plain one on the same connection, is handed over with the bytes already
// read and answered; net/http then keeps the connection.
func TestProxyHandOverMidConnection(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFront(t, worker)
	c := f.dial(t)
	c.get("/a", 200, "GET /a ")
	if n := f.handed.Load(); n != 0 {
		t.Fatalf("%d connections handed over after a plain GET, want 0", n)
	}
	c.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if resp, body := c.read("POST"); resp.StatusCode != 200 || body != "POST /b hello" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	c.get("/c", 200, "GET /c ")
	if n := f.handed.Load(); n != 1 {
		t.Fatalf("%d connections handed over, want 1", n)
	}
}

// TestProxyHandOverRequests: requests the fast path does not serve are
// answered correctly by net/http, each on a connection handed over.
func TestProxyHandOverRequests(t *testing.T) {
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.Header.Values("X-Line")); n > 0 {
			fmt.Fprintf(w, "%d lines", n)
			return
		}
		if big := r.Header.Get("X-Big"); big != "" {
			fmt.Fprintf(w, "%d %v", len(big), big == strings.Repeat("b", 8<<10))
			return
		}
		echo(w, r)
	})
	f := startFrontConfig(t, Config{MaxHead: 128 << 10}, nil, worker)
	cases := []struct {
		name, req, body string
		handed          bool
	}{
		{"HTTP/1.0", "GET /ten HTTP/1.0\r\nHost: x\r\n\r\n", "GET /ten ", true},
		{"absolute-form", "GET http://example.test/abs?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n", "GET /abs?q=1 ", true},
		// Long lines and long heads (up to max_head) stay on the fast path.
		{"8 KB header line", "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 8<<10) + "\r\n\r\n", "8192 true", false},
		{"head over 64 KB", "GET /lines HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Line: "+strings.Repeat("l", 1000)+"\r\n", 80) + "\r\n", "80 lines", false},
		{"body first", "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST /p abc", true},
	}
	handed := int64(0)
	for _, tc := range cases {
		c := f.dial(t)
		c.send(tc.req)
		method, _, _ := strings.Cut(tc.req, " ")
		if resp, body := c.read(method); resp.StatusCode != 200 || body != tc.body {
			t.Errorf("%s: %d %q, want 200 %q", tc.name, resp.StatusCode, body, tc.body)
		}
		if tc.handed {
			handed++
		}
		if n := f.handed.Load(); n != handed {
			t.Errorf("%s: %d connections handed over, want %d", tc.name, n, handed)
		}
	}
}

// TestProxyHandOverExpectContinue: a POST that waits for 100 Continue
// gets it from net/http, then its answer.
func TestProxyHandOverExpectContinue(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFront(t, worker)
	c := f.dial(t)
	c.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if resp, _ := c.read("POST"); resp.StatusCode != http.StatusContinue {
		t.Fatalf("first answer %d, want 100 Continue", resp.StatusCode)
	}
	c.send("hello")
	// The worker's own 100 Continue may be passed on too: a client skips
	// any number of 1xx answers.
	resp, body := c.read("POST")
	for i := 0; i < 3 && resp.StatusCode == http.StatusContinue; i++ {
		resp, body = c.read("POST")
	}
	if resp.StatusCode != 200 || body != "POST /e hello" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	c.get("/after", 200, "GET /after ")
}

// TestProxyPipelining: requests written at once are answered in order,
// a non-plain one among them included (its bytes, read ahead by the fast
// path, are replayed to net/http).
func TestProxyPipelining(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFront(t, worker)
	c := f.dial(t)
	c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"GET /1 ", "GET /2 "} {
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != want {
			t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
	if n := f.handed.Load(); n != 0 {
		t.Fatalf("%d connections handed over for pipelined GETs, want 0", n)
	}
	c.send("GET /3 HTTP/1.1\r\nHost: x\r\n\r\nPOST /4 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /5 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"GET /3 ", "POST /4 abc", "GET /5 "} {
		method, _, _ := strings.Cut(want, " ")
		if resp, body := c.read(method); resp.StatusCode != 200 || body != want {
			t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
}

// TestProxyHeadInPieces: a request head that arrives a few bytes at a
// time is read whole.
func TestProxyHeadInPieces(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFront(t, worker)
	c := f.dial(t)
	for _, part := range []string{"GE", "T /pie", "ces HTTP/1.1\r", "\nHost: x\r\n", "X-A: b\r\n\r", "\n"} {
		c.send(part)
		time.Sleep(time.Millisecond) // lets each part be read alone
	}
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "GET /pieces " {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := f.handed.Load(); n != 0 {
		t.Fatalf("%d connections handed over, want 0", n)
	}
}

// TestProxyPipelinedWhileWatching: a request sent while the previous one
// waits for a slow worker is first read by the client watch; its byte is
// kept, not lost, and the client is not taken for gone.
func TestProxyPipelinedWhileWatching(t *testing.T) {
	worker, slow := startSlowWorker(t)
	f := startFrontWith(t, func(s *Server) { s.watchAfter = time.Millisecond }, worker)
	c := f.dial(t)
	c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, slow.arrived, "the slow request to reach the worker")
	time.Sleep(20 * time.Millisecond) // the watch is now reading, nearly always
	c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	close(slow.release)
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "slow done" {
		t.Fatalf("slow: %d %q", resp.StatusCode, body)
	}
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "GET /next " {
		t.Fatalf("next: %d %q", resp.StatusCode, body)
	}
	c.get("/last", 200, "GET /last ")
}

// TestProxyFastPathTimeouts: a connection left idle, or a request head
// left unfinished, is closed after the server's timeouts.
func TestProxyFastPathTimeouts(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFrontWith(t, func(s *Server) {
		s.idleTimeout, s.headerTimeout = 50*time.Millisecond, 50*time.Millisecond
	}, worker)
	idle := f.dial(t)
	idle.get("/", 200, "GET / ")
	half := f.dial(t)
	half.send("GET / HTTP/1.1\r\nHost:")
	idle.expectEOF()
	half.expectEOF()
}

// TestProxyClientConnectionClose: a client that says Connection: close
// gets it said back, and the proxy closes the connection.
func TestProxyClientConnectionClose(t *testing.T) {
	worker, _ := startWorker(t, echo)
	f := startFront(t, worker)
	c := f.dial(t)
	c.get("/first", 200, "GET /first ")
	c.send("GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, body := c.read("GET")
	if resp.StatusCode != 200 || body != "GET /last " || !resp.Close {
		t.Fatalf("%d %q close %v; want 200, Connection: close", resp.StatusCode, body, resp.Close)
	}
	c.expectEOF()
	if n := f.handed.Load(); n != 0 {
		t.Fatalf("%d connections handed over, want 0", n)
	}
}

// hijackWrite answers with raw bytes and closes the worker's connection.
func hijackWrite(w http.ResponseWriter, raw string) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString(raw)
	brw.Flush()
}

// TestProxyFastPathAnswers: the worker's answers are passed on intact,
// framed so the client finds their end, and without hop-by-hop headers.
func TestProxyFastPathAnswers(t *testing.T) {
	big := strings.Repeat("v", 6<<10)
	old := strings.Repeat("0123456789", 1<<10)
	var sb strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&sb, "%x", i)
	}
	large := sb.String()
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "ab")
			rc.Flush()
			io.WriteString(w, "cd")
			rc.Flush()
			w.Header().Set("X-Sum", "sum-of-abcd")
		case "/http10":
			hijackWrite(w, "HTTP/1.0 200 OK\r\nX-Old: yes\r\n\r\n"+old)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "closing")
		case "/big":
			w.Header().Set("X-Big", big)
			io.WriteString(w, "big")
		case "/large-length":
			w.Header().Set("Content-Length", fmt.Sprint(len(large)))
			io.WriteString(w, large)
		case "/large-chunked":
			for i := 0; i < len(large); i += 10000 {
				io.WriteString(w, large[i:min(i+10000, len(large))])
				rc.Flush()
			}
		case "/short":
			hijackWrite(w, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		case "/malformed":
			hijackWrite(w, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
		case "/secret":
			hijackWrite(w, "HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: s3cr3t\r\nX-Public: p\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok")
		default:
			echo(w, r)
		}
	})
	f := startFront(t, worker)

	t.Run("chunked with trailers", func(t *testing.T) {
		c := f.dial(t)
		resp := c.get("/chunked", 200, "abcd")
		if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.Trailer.Get("X-Sum") != "sum-of-abcd" {
			t.Fatalf("transfer encoding %q trailer %q; want chunked with X-Sum", resp.TransferEncoding, resp.Trailer)
		}
		c.get("/next", 200, "GET /next ")
	})
	t.Run("HTTP/1.0 without length", func(t *testing.T) {
		c := f.dial(t)
		resp := c.get("/http10", 200, old)
		if resp.ProtoMinor != 1 || !resp.Close || resp.Header.Get("X-Old") != "yes" {
			t.Fatalf("proto %s close %v X-Old %q; want HTTP/1.1, Connection: close, yes", resp.Proto, resp.Close, resp.Header.Get("X-Old"))
		}
		c.expectEOF()
	})
	t.Run("large bodies", func(t *testing.T) {
		c := f.dial(t)
		if resp := c.get("/large-length", 200, large); resp.ContentLength != int64(len(large)) {
			t.Fatalf("length %d, want %d", resp.ContentLength, len(large))
		}
		if resp := c.get("/large-chunked", 200, large); len(resp.TransferEncoding) != 1 {
			t.Fatalf("transfer encoding %q, want chunked", resp.TransferEncoding)
		}
	})
	t.Run("worker closes, client stays", func(t *testing.T) {
		c := f.dial(t)
		if resp := c.get("/close", 200, "closing"); resp.Close {
			t.Fatal("the worker's Connection: close reached the client")
		}
		c.get("/again", 200, "GET /again ")
	})
	t.Run("6 KB header value", func(t *testing.T) {
		c := f.dial(t)
		if resp := c.get("/big", 200, "big"); resp.Header.Get("X-Big") != big {
			t.Fatalf("X-Big arrived with %d bytes, want %d", len(resp.Header.Get("X-Big")), len(big))
		}
	})
	t.Run("malformed answer", func(t *testing.T) {
		c := f.dial(t)
		c.get("/malformed", http.StatusBadGateway, "")
		c.get("/after", 200, "GET /after ")
	})
	t.Run("body cut short", func(t *testing.T) {
		c := f.dial(t)
		c.send("GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		if body, err := io.ReadAll(resp.Body); err != io.ErrUnexpectedEOF || string(body) != "abc" {
			t.Fatalf("body %q, %v; want \"abc\" then the connection closed", body, err)
		}
	})
	t.Run("headers named in Connection", func(t *testing.T) {
		c := f.dial(t)
		resp := c.get("/secret", 200, "ok")
		if _, ok := resp.Header["X-Secret"]; ok || resp.Header.Get("X-Public") != "p" {
			t.Fatalf("header %q; want X-Public and no X-Secret", resp.Header)
		}
		if _, ok := resp.Header["Keep-Alive"]; ok || resp.Close {
			t.Fatalf("header %q close %v; want no Keep-Alive, connection kept", resp.Header, resp.Close)
		}
	})
	if n := f.handed.Load(); n != 0 {
		t.Fatalf("%d connections handed over, want 0", n)
	}
}
