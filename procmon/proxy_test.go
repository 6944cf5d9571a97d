package procmon

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func backendFor(t *testing.T, url string) *backend {
	t.Helper()
	_, port, err := splitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return newBackend(port, url)
}

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
	p := newProxy(slog.New(slog.DiscardHandler))
	p.set([]*backend{backendFor(t, deadURL), backendFor(t, live.URL)})
	front := httptest.NewServer(p)
	defer front.Close()
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
	front := httptest.NewServer(newProxy(slog.New(slog.DiscardHandler)))
	defer front.Close()
	resp, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

// TestProxyForwardedHeaders: X-Forwarded-For gets the client appended to
// what a front proxy set; X-Forwarded-Proto is kept or set to http.
func TestProxyForwardedHeaders(t *testing.T) {
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Host)
	}))
	defer worker.Close()
	p := newProxy(slog.New(slog.DiscardHandler))
	p.set([]*backend{backendFor(t, worker.URL)})
	front := httptest.NewServer(p)
	defer front.Close()
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
	p := newProxy(slog.New(slog.DiscardHandler))
	b := backendFor(t, worker.URL)
	p.set([]*backend{b})
	front := httptest.NewServer(p)
	defer front.Close()
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
