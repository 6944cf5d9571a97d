package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func backendFor(t testing.TB, url string) *Backend {
	t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return NewBackend(n, url)
}

// newTestProxy is the handler for handed-over requests, on a pool of its own.
func newTestProxy(log *slog.Logger) *handler { return newHandler(NewPool(), log, Config{}) }

// TestProxyRetriesWorkerThatCannotBeReached: a request to a worker that
// refuses connections goes to another one, bodies included.
func TestProxyRetriesWorkerThatCannotBeReached(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "live %s %s", r.Method, body)
	}))
	defer live.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	p := newTestProxy(slog.New(slog.DiscardHandler))
	p.Set([]*Backend{backendFor(t, deadURL), backendFor(t, live.URL)})
	front := serveProxy(t, p)
	for i := range 10 {
		resp, err := http.Post(front.URL, "text/plain", strings.NewReader(fmt.Sprint("body", i)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != fmt.Sprintf("live POST body%d", i) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	for _, b := range *p.backends.Load() {
		if n := b.inflight.Load(); n != 0 {
			t.Fatalf("backend %s has %d requests counted in flight after all finished", b.label, n)
		}
	}
}

func TestProxyNoWorkerIs503(t *testing.T) {
	front := serveProxy(t, newTestProxy(slog.New(slog.DiscardHandler)))
	resp, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

// TestProxyForwardedHeaders: from a trusted client (a front proxy),
// X-Forwarded-For gets the client appended to what the front proxy set;
// X-Forwarded-Proto is kept or set to http. (Untrusted clients: see
// conformance_test.go.)
func TestProxyForwardedHeaders(t *testing.T) {
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Host)
	}))
	defer worker.Close()
	p := newHandler(NewPool(), slog.New(slog.DiscardHandler), Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	p.Set([]*Backend{backendFor(t, worker.URL)})
	front := serveProxy(t, p)
	cases := []struct{ xff, proto, want string }{
		{"", "", "127.0.0.1|http|example.test"},
		{"203.0.113.9", "https", "203.0.113.9, 127.0.0.1|https|example.test"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", front.URL, nil)
		req.Host = "example.test"
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
			req.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != tc.want {
			t.Fatalf("got %q, want %q", body, tc.want)
		}
	}
}

// TestProxyUpgrade: a WebSocket-style upgrade is passed through both ways,
// and counts as in flight until it ends.
func TestProxyUpgrade(t *testing.T) {
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "no upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	defer worker.Close()
	p := newTestProxy(slog.New(slog.DiscardHandler))
	b := backendFor(t, worker.URL)
	p.Set([]*Backend{b})
	front := serveProxy(t, p)
	conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if n := b.inflight.Load(); n != 1 {
		t.Fatalf("upgraded connection counted %d in flight, want 1", n)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("echo: %q %v", line, err)
	}
}

// frontFor puts a proxy with the given workers behind a test server.
func frontFor(t *testing.T, workers ...*httptest.Server) (*handler, *httptest.Server) {
	t.Helper()
	p := newTestProxy(slog.New(slog.DiscardHandler))
	var bs []*Backend
	for _, w := range workers {
		bs = append(bs, backendFor(t, w.URL))
	}
	p.Set(bs)
	return p, serveProxy(t, p)
}

// serveProxy serves p on a loopback port through the proxy's own server
// (the fast path, and net/http for what it hands over), as procmon does.
func serveProxy(t *testing.T, p *handler) *httptest.Server {
	t.Helper()
	front := httptest.NewUnstartedServer(nil)
	srv := newServer(p, p.log)
	go srv.Serve(front.Listener)
	front.URL = "http://" + front.Listener.Addr().String()
	t.Cleanup(func() { srv.Close() })
	return front
}

func proxyGet(t *testing.T, client *http.Client, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestProxyKeepsWorkerConnections: plain GETs reuse one connection to the
// worker, and a pooled connection the worker closed meanwhile is replaced
// without the client seeing an error.
func TestProxyKeepsWorkerConnections(t *testing.T) {
	var conns atomic.Int64
	worker := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hi")
	}))
	worker.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	worker.Start()
	defer worker.Close()
	_, front := frontFor(t, worker)
	client := &http.Client{}
	for i := range 5 {
		if code, body := proxyGet(t, client, "GET", front.URL); code != 200 || body != "hi" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("5 sequential GETs opened %d worker connections, want 1", n)
	}
	worker.CloseClientConnections()
	for i := range 3 {
		if code, body := proxyGet(t, client, "GET", front.URL); code != 200 || body != "hi" {
			t.Fatalf("request %d after the worker closed its connections: %d %q", i, code, body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("worker saw %d connections, want 2 (one replaced)", n)
	}
}

// TestProxyAnswerFraming: answers without a body, with a body delimited
// by the connection closing, and streamed in chunks arrive intact, and an
// Early Hints answer is passed on before the final one.
func TestProxyAnswerFraming(t *testing.T) {
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/eof":
			conn, brw, _ := http.NewResponseController(w).Hijack()
			brw.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof")
			brw.Flush()
			conn.Close()
		case "/chunks":
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				http.NewResponseController(w).Flush()
			}
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "final")
		default:
			io.WriteString(w, "head body")
		}
	}))
	defer worker.Close()
	_, front := frontFor(t, worker)
	cases := []struct {
		method, path string
		code         int
		body         string
	}{
		{"HEAD", "/", 200, ""},
		{"GET", "/empty", 204, ""},
		{"GET", "/eof", 200, "until eof"},
		{"GET", "/chunks", 200, "part0;part1;part2;"},
		{"GET", "/hints", 200, "final"},
		{"GET", "/", 200, "head body"},
	}
	client := &http.Client{}
	for _, tc := range cases {
		if code, body := proxyGet(t, client, tc.method, front.URL+tc.path); code != tc.code || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
}

// TestProxyStreamsBeforeTheAnswerEnds: a streamed answer's first part
// reaches the client while the worker is still writing.
func TestProxyStreamsBeforeTheAnswerEnds(t *testing.T) {
	release := make(chan struct{})
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		io.WriteString(w, "second\n")
	}))
	defer worker.Close()
	_, front := frontFor(t, worker)
	resp, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first part: %q %v", line, err)
	}
	close(release)
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "second\n" {
		t.Fatalf("rest: %q %v", rest, err)
	}
}

// TestProxyClientGoneEndsWorkerRequest: a client that gives up while the
// worker is still thinking ends the worker's request too, and the request
// no longer counts as in flight (so draining is not held up by it).
func TestProxyClientGoneEndsWorkerRequest(t *testing.T) {
	ended := make(chan struct{})
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(ended)
		case <-time.After(20 * time.Second):
		}
	}))
	defer worker.Close()
	p, front := frontFor(t, worker)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request succeeded, want it cut off by the client's timeout")
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker's request went on after the client left")
	}
	b := (*p.backends.Load())[0]
	for deadline := time.Now().Add(10 * time.Second); b.inflight.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still counted in flight", b.inflight.Load())
		}
	}
}

// TestProxyClosesLongIdleWorkerConnections: connections left idle after a
// burst are closed once they have been idle too long; recent ones stay.
func TestProxyClosesLongIdleWorkerConnections(t *testing.T) {
	p := &fastConns{maxIdle: 10, idleTimeout: time.Millisecond}
	var far []net.Conn
	conn := func() *fastConn {
		near, other := net.Pipe()
		far = append(far, other)
		return &fastConn{nc: near}
	}
	old, recent := conn(), conn()
	p.put(old)
	time.Sleep(20 * time.Millisecond)
	p.put(recent)
	if len(p.idle) != 1 || p.idle[0] != recent {
		t.Fatalf("idle list has %d connections, want only the recent one", len(p.idle))
	}
	far[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := far[0].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the long idle connection: read %v, want EOF (closed)", err)
	}
	p.closeIdle()
	far[1].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := far[1].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after closeIdle: read %v, want EOF (closed)", err)
	}
}
