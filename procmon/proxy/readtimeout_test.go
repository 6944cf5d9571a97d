package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/nginxtest"
)

// read_timeout (nginx proxy_read_timeout): a worker that goes silent
// gets its request answered 504, or its answer cut, after read_timeout,
// on both of procmon's paths and as nginx does; a worker that answers
// slowly but keeps sending, a client that uploads slowly, and an idle
// event stream or upgraded connection are not cut.

// nginxVersion is the version in nginx's error pages.
var nginxVersion = regexp.MustCompile(`nginx/[0-9.]+<`)

// rtTimeout is the read_timeout under test.
const rtTimeout = 400 * time.Millisecond

// silentWorker answers by path: "/" at once, "/hang" never, "/stall" two
// bytes of ten, "/drip" a byte every rtTimeout/5 for 2×rtTimeout,
// "/events" an event, then another after 3×rtTimeout, "/upload" the size
// of the body it read, "/ws" a 101 and, 3×rtTimeout later, "late";
// "/ws-hang" never answers its upgrade. hits counts the requests by path.
func silentWorker(t *testing.T) (*httptest.Server, func(path string) int) {
	t.Helper()
	var mu sync.Mutex
	hits := map[string]int{}
	stop := make(chan struct{})
	hang := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}
	w, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		f := w.(http.Flusher)
		switch r.URL.Path {
		case "/hang", "/ws-hang":
			hang(r)
		case "/stall":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "ab")
			f.Flush()
			hang(r)
		case "/drip":
			for range 10 {
				io.WriteString(w, "x")
				f.Flush()
				time.Sleep(rtTimeout / 5)
			}
		case "/events":
			// Answer without reading the body first, as Node's servers do
			// (Go's discards it before the head unless full duplex).
			http.NewResponseController(w).EnableFullDuplex()
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: 1\n\n")
			f.Flush()
			time.Sleep(3 * rtTimeout)
			io.WriteString(w, "data: 2\n\n")
		case "/upload":
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "got %d", n)
		case "/ws":
			nc, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer nc.Close()
			bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
			bw.Flush()
			time.Sleep(3 * rtTimeout)
			io.WriteString(nc, "late")
		default:
			io.WriteString(w, "ok")
		}
	})
	t.Cleanup(func() { close(stop) }) // before the worker's Close, which waits for its handlers
	return w, func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return hits[path]
	}
}

// rtCase is a request and what a proxy with read_timeout rtTimeout
// must do with it.
type rtCase struct {
	name   string
	req    string        // sent at once; for a body sent in pieces, its head
	pieces int           // the body's 500-byte pieces, sent rtTimeout×3/8 apart
	code   int           // the answer's status
	body   string        // the answer's body, or what arrives of it when cut
	cut    bool          // the answer is cut: the connection ends before its body does
	waited bool          // the answer comes only after read_timeout
	nginx  *rtDifference // nginx does otherwise (listed, and checked)
}

// rtDifference is how nginx answers a case differently, and why procmon
// does not follow it.
type rtDifference struct {
	code int
	body string
	cut  bool
	why  string
}

const hostLine = "Host: example.test\r\n"

// nginx504 is the page nginx answers 504 with.
const nginx504 = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n" +
	"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// Reasons shared by the differences.
const (
	whyErrorPage = "nginx answers its own HTML page; procmon answers errors with an empty body"
	whyBuffered  = "nginx holds what the worker sent (proxy_buffering on) and drops it when it cuts the answer; " +
		"procmon passes bytes on as they come: the client gets more of the answer, cut all the same"
)

var rtCases = []rtCase{
	{name: "silent before its head (GET)", req: "GET /hang HTTP/1.1\r\n" + hostLine + "\r\n", code: 504, waited: true,
		nginx: &rtDifference{code: 504, body: nginx504, why: whyErrorPage}},
	{name: "silent before its head (POST)", req: "POST /hang HTTP/1.1\r\n" + hostLine + "Content-Length: 2\r\n\r\nhi", code: 504, waited: true,
		nginx: &rtDifference{code: 504, body: nginx504, why: whyErrorPage}},
	{name: "silent mid-body (GET)", req: "GET /stall HTTP/1.1\r\n" + hostLine + "\r\n", code: 200, body: "ab", cut: true,
		nginx: &rtDifference{code: 200, body: "", cut: true, why: whyBuffered}},
	{name: "silent mid-body (POST)", req: "POST /stall HTTP/1.1\r\n" + hostLine + "Content-Length: 2\r\n\r\nhi", code: 200, body: "ab", cut: true,
		nginx: &rtDifference{code: 200, body: "", cut: true, why: whyBuffered}},
	{name: "slow but sending (GET)", req: "GET /drip HTTP/1.1\r\n" + hostLine + "\r\n", code: 200, body: strings.Repeat("x", 10)},
	{name: "slow but sending (POST)", req: "POST /drip HTTP/1.1\r\n" + hostLine + "Content-Length: 2\r\n\r\nhi", code: 200, body: strings.Repeat("x", 10)},
	{name: "slow upload", req: "POST /upload HTTP/1.1\r\n" + hostLine + "Content-Length: 4000\r\n\r\n", pieces: 8, code: 200, body: "got 4000"},
	{name: "idle event stream (GET)", req: "GET /events HTTP/1.1\r\n" + hostLine + "\r\n", code: 200, body: "data: 1\n\ndata: 2\n\n",
		nginx: &rtDifference{code: 200, body: "data: 1\n\n", cut: true, why: "an event stream is idle between events by design; " +
			"nginx cutting it after proxy_read_timeout is why apps behind nginx send keep-alive comments, and a client whose " +
			"stream is cut reconnects with its whole state; procmon leaves it open, and [heartbeat] finds a hung worker"}},
	{name: "idle event stream (POST)", req: "POST /events HTTP/1.1\r\n" + hostLine + "Content-Length: 2\r\n\r\nhi", code: 200, body: "data: 1\n\ndata: 2\n\n",
		nginx: &rtDifference{code: 200, body: "data: 1\n\n", cut: true, why: "as for GET"}},
	// The worker answers before it reads the body, which goes on arriving
	// after the head: its reads must not restart the clock the head stopped.
	{name: "idle event stream answered mid-upload", req: "POST /events HTTP/1.1\r\n" + hostLine + "Content-Length: 2000\r\n\r\n", pieces: 4,
		code: 200, body: "data: 1\n\ndata: 2\n\n", nginx: &rtDifference{code: 200, body: "data: 1\n\n", cut: true, why: "as for GET"}},
}

// runReadTimeout runs the cases against the proxy at addr; nginx says
// that it is nginx (its listed differences are then expected). It returns
// the number of requests it sent for path.
func runReadTimeout(t *testing.T, addr string, nginx bool, path string) (sent int) {
	for _, tc := range rtCases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.req, " "+path+" ") {
				sent++
			}
			code, body, cut := tc.code, tc.body, tc.cut
			if d := tc.nginx; nginx && d != nil {
				code, body, cut = d.code, d.body, d.cut
				t.Logf("a listed difference, nginx is expected to answer %d %q cut=%v: %s", code, body, cut, d.why)
			}
			c := (&testFront{addr: addr}).dial(t)
			c.get("/", 200, "ok") // the worker connection the case then uses is a kept-alive one
			start := time.Now()
			c.send(tc.req)
			for range tc.pieces {
				time.Sleep(rtTimeout * 3 / 8)
				c.send(strings.Repeat("u", 500))
			}
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatalf("read the answer: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			took := time.Since(start)
			if nginx {
				got = nginxVersion.ReplaceAll(got, []byte("nginx<"))
			}
			// A cut is the proxy's close: not the client's own deadline, nor an answer that went on.
			if resp.StatusCode != code || string(got) != body || errors.Is(err, io.ErrUnexpectedEOF) != cut || !cut && err != nil {
				t.Fatalf("%d %q (body read: %v) after %s; want %d %q, cut %v", resp.StatusCode, got, err, took.Round(time.Millisecond), code, body, cut)
			}
			if tc.waited && took < rtTimeout {
				t.Fatalf("answered after %s, before read_timeout %s", took, rtTimeout)
			}
			if !cut && !resp.Close {
				c.get("/", 200, "ok") // the connection is kept for the next request
			}
		})
	}
	return sent
}

// TestProxyReadTimeout: see above; the cases are also sent to nginx with
// proxy_read_timeout set the same, and must be answered the same but for
// the listed differences.
func TestProxyReadTimeout(t *testing.T) {
	worker, hits := silentWorker(t)
	f := startFrontConfig(t, Config{ReadTimeout: rtTimeout, BufferBody: 1 << 10}, nil, worker)
	t.Run("procmon", func(t *testing.T) {
		sent := runReadTimeout(t, f.addr, false, "/hang")
		if n := hits("/hang"); n != sent {
			t.Errorf("the worker got %d /hang requests for the %d sent: a request the worker did not answer in time "+
				"must not be sent again (it may have had effects)", n, sent)
		}
	})

	t.Run("upgraded connection idle", func(t *testing.T) {
		c := f.dial(t)
		c.send("GET /ws HTTP/1.1\r\n" + hostLine + "Connection: Upgrade\r\nUpgrade: test\r\n\r\n")
		resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		late, err := io.ReadAll(c.br)
		if string(late) != "late" || err != nil {
			t.Fatalf("after the upgrade: %q, %v; want \"late\", sent 3×read_timeout after the 101", late, err)
		}
	})
	t.Run("upgrade never answered", func(t *testing.T) {
		c := f.dial(t)
		start := time.Now()
		c.send("GET /ws-hang HTTP/1.1\r\n" + hostLine + "Connection: Upgrade\r\nUpgrade: test\r\n\r\n")
		resp, _ := c.read("GET")
		if took := time.Since(start); resp.StatusCode != 504 || took < rtTimeout {
			t.Fatalf("%d after %s; want 504 after read_timeout %s", resp.StatusCode, took, rtTimeout)
		}
	})

	t.Run("nginx", func(t *testing.T) {
		worker, _ := silentWorker(t)
		n := nginxtest.Start(t, nginxtest.Options{Upstream: worker.Listener.Addr().String(),
			ReadTimeout: fmt.Sprintf("%dms", rtTimeout.Milliseconds()), LogLevel: "info"})
		runReadTimeout(t, n.Addr, true, "")
		if t.Failed() {
			t.Logf("nginx's error log:\n%s", clip(n.ErrorLog()))
		}
	})
}
