package proxy

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conformance table: requests an attacker sends to a proxy facing the
// internet (request smuggling, desync, header forgery, path traversal),
// over raw TCP, and for each what procmon answers, whether it keeps the
// connection (conformance_probe_test.go), and what the worker saw. The
// refusals are nginx's answers to the same bytes: 400 (501 for an unknown
// Transfer-Encoding) and the connection closed, before any worker sees
// anything. conformance_nginx_test.go runs every case against a real nginx
// in front of the same worker; where nginx answers differently,
// nginxDifferences says how and why procmon answers as it does.

// seen is what the worker saw of one request.
type seen struct {
	method, target string
	host           string // the Host header
	local          string // the worker's own address
	header         http.Header
	body           string
	length         int64
	chunked        bool
}

// recordingWorker records every request it serves.
type recordingWorker struct {
	mu   sync.Mutex
	reqs []seen
}

func (rw *recordingWorker) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rw.mu.Lock()
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	rw.reqs = append(rw.reqs, seen{r.Method, r.RequestURI, r.Host, local.String(), r.Header.Clone(), string(body),
		r.ContentLength, len(r.TransferEncoding) > 0})
	rw.mu.Unlock()
	w.Write([]byte("ok"))
}

func (rw *recordingWorker) take() []seen {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	r := rw.reqs
	rw.reqs = nil
	return r
}

const host = "Host: example.test\r\n"

// chunked is a POST whose chunked body is body.
func chunked(body string) string {
	return "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n" + body
}

type conformanceCase struct {
	name   string
	raw    string
	code   int
	closes bool                       // a pass whose connection ends after the answer (a refusal always does)
	check  func(t *testing.T, s seen) // for a request that reaches the worker
}

// refused is what every refusal expects: its code, the connection closed,
// nothing at the worker.
func (tc conformanceCase) refused() outcome { return outcome{code: tc.code, closes: true} }

// passed is what every pass expects: its code, the connection kept unless
// closes, one request at the worker, as check says.
func (tc conformanceCase) passed() outcome {
	return outcome{code: tc.code, closes: tc.closes, check: tc.check}
}

// refusals: each is answered with its code and closed; no worker sees it.
var refusals = []conformanceCase{
	{name: "CL then TE", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "TE then CL", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", code: 400},
	{name: "HTTP/1.0 CL and TE", raw: "POST / HTTP/1.0\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "HTTP/1.0 TE", raw: "POST / HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "TE hidden by obs-fold", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "TE value folded", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "TE hidden by bare LF", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "bare LF request line", raw: "GET / HTTP/1.1\n" + host + "\r\n", code: 400},
	{name: "bare LF end of head", raw: "GET / HTTP/1.1\r\n" + host + "\n", code: 400},
	{name: "TE space before colon", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "TE vertical tab", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "TE xchunked", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", code: 501},
	{name: "TE chunked, identity", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", code: 501},
	{name: "TE identity, chunked", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", code: 501},
	{name: "TE twice", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", code: 400},
	{name: "CL differing twice", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", code: 400},
	{name: "CL same twice", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", code: 400},
	{name: "CL list", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5, 5\r\n\r\nhello", code: 400},
	{name: "CL +5", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\nhello", code: 400},
	{name: "CL 0x5", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x5\r\n\r\nhello", code: 400},
	{name: "CL -1", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", code: 400},
	{name: "CL overflow", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n", code: 400},
	{name: "NUL in value", raw: "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", code: 400},
	{name: "CR in value", raw: "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", code: 400},
	{name: "CR in value hides TE", raw: "POST / HTTP/1.1\r\n" + host + "X-A: a\rTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx", code: 400},
	{name: "no Host", raw: "GET / HTTP/1.1\r\n\r\n", code: 400},
	{name: "two Hosts", raw: "GET / HTTP/1.1\r\n" + host + "Host: other.test\r\n\r\n", code: 400},
	{name: "Host with a path", raw: "GET / HTTP/1.1\r\nHost: a/../b\r\n\r\n", code: 400},
	{name: "Host with a space", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", code: 400},
	{name: "Host empty", raw: "GET / HTTP/1.1\r\nHost:\r\n\r\n", code: 400},
	{name: "Host invalid on POST", raw: "POST / HTTP/1.1\r\nHost: a\\b\r\nContent-Length: 0\r\n\r\n", code: 400},
	{name: "space in target", raw: "GET /a b HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "HTTP/2.0 line", raw: "GET / HTTP/2.0\r\n" + host + "\r\n", code: 505},
	{name: "CONNECT", raw: "CONNECT example.test:443 HTTP/1.1\r\n" + host + "\r\n", code: 405},
	{name: "TRACE", raw: "TRACE / HTTP/1.1\r\n" + host + "\r\n", code: 405},
	{name: "underscore refused", raw: "GET / HTTP/1.1\r\n" + host + "X_Forwarded_For: 6.6.6.6\r\n\r\n", code: 400},
	{name: "head over max_head", raw: "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", code: 431},
	{name: "header name not a token", raw: "GET / HTTP/1.1\r\n" + host + "X(Y: 1\r\n\r\n", code: 400},
	{name: "header line without a colon", raw: "GET / HTTP/1.1\r\n" + host + "X-A\r\n\r\n", code: 400},
	// Request lines and targets.
	{name: "HTTP/0.9 request line", raw: "GET /\r\n", code: 400},
	{name: "request line without a version", raw: "GET /\r\n" + host + "\r\n", code: 400},
	{name: "two spaces in the request line", raw: "GET  / HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "HTTP/1.10", raw: "GET / HTTP/1.10\r\n" + host + "\r\n", code: 400},
	{name: "asterisk-form GET", raw: "GET * HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "userinfo in absolute-form", raw: "GET http://a@other.test/x HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "path above the root", raw: "GET /a/../../x HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "path above the root, encoded dots", raw: "GET /a/%2e%2E/.%2e/x HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "path above the root, encoded slashes", raw: "GET /a/..%2f..%2fx HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "path above the root, absolute-form", raw: "GET http://example.test/.. HTTP/1.1\r\n" + host + "\r\n", code: 400},
	{name: "encoded NUL in the path", raw: "GET /x%00.txt HTTP/1.1\r\n" + host + "\r\n", code: 400},
	// Malformed chunked bodies (Kettle's desync research, Weikop's "funky
	// chunks"): a parser that reads one of these differently from the next
	// hop's frames the body differently.
	{name: "chunk size with a leading space", raw: chunked(" 5\r\nhello\r\n0\r\n\r\n"), code: 400},
	{name: "chunk size with trailing junk", raw: chunked("5x\r\nhello\r\n0\r\n\r\n"), code: 400},
	{name: "chunk size, space, junk", raw: chunked("5 x\r\nhello\r\n0\r\n\r\n"), code: 400},
	{name: "chunk size 0x5", raw: chunked("0x5\r\nhello\r\n0\r\n\r\n"), code: 400},
	{name: "chunk size ends in bare LF", raw: chunked("5\nhello\r\n0\r\n\r\n"), code: 400},
	{name: "chunk extension ends in bare LF", raw: chunked("5;a=b\nhello\r\n0\r\n\r\n"), code: 400},
	{name: "chunk data ends in bare LF", raw: chunked("5\r\nhello\n0\r\n\r\n"), code: 400},
	{name: "chunk data longer than its size", raw: chunked("3\r\nhello\r\n0\r\n\r\n"), code: 400},
	{name: "chunk size over 64 bits", raw: chunked("10000000000000005\r\nhello\r\n0\r\n\r\n"), code: 400},
	// 2^64-1: procmon waits for the bytes and, as none come, answers 408
	// after body_timeout (conformanceBodyTimeout here).
	{name: "chunk size over 63 bits", raw: chunked("ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), code: 408},
	{name: "Trailer declares Content-Length", raw: "POST / HTTP/1.1\r\n" + host + "Trailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n", code: 400},
}

// conformanceBodyTimeout is procmon's body_timeout in TestProxyConformanceRefusals.
const conformanceBodyTimeout = time.Second

// TestProxyConformanceRefusals: see refusals.
func TestProxyConformanceRefusals(t *testing.T) {
	var rec recordingWorker
	worker, _ := startWorker(t, rec.serve)
	f := startFrontConfig(t, Config{RefuseUnderscores: true, BodyTimeout: conformanceBodyTimeout}, nil, worker)
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			tc.refused().expect(t, probe(t, f.addr, &rec, tc.raw))
		})
	}
}

// passes: requests answered, by the worker unless check is nil, and what
// it must have seen.
var passes = []conformanceCase{
	{name: "underscore header dropped (GET)", raw: "GET / HTTP/1.1\r\n" + host + "X_Forwarded_For: 6.6.6.6\r\nX-Keep: 1\r\n\r\n", code: 200,
		check: func(t *testing.T, s seen) {
			wantHeader(t, s, "X_forwarded_for", "", "X-Forwarded-For", "127.0.0.1", "X-Keep", "1")
		}},
	{name: "underscore header dropped (POST)", raw: "POST / HTTP/1.1\r\n" + host + "Client_IP: 6.6.6.6\r\nContent-Length: 2\r\n\r\nhi", code: 200,
		check: func(t *testing.T, s seen) { wantHeader(t, s, "Client_ip", "", "X-Forwarded-For", "127.0.0.1") }},
	{name: "client X-Forwarded-* replaced (GET)", raw: "GET / HTTP/1.1\r\n" + host +
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nForwarded: for=6.6.6.6\r\n\r\n", code: 200,
		check: func(t *testing.T, s seen) {
			wantHeader(t, s, "X-Forwarded-For", "127.0.0.1", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "example.test", "Forwarded", "")
		}},
	{name: "client X-Forwarded-* replaced (POST)", raw: "POST / HTTP/1.1\r\n" + host +
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\nContent-Length: 2\r\n\r\nhi", code: 200,
		check: func(t *testing.T, s seen) {
			wantHeader(t, s, "X-Forwarded-For", "127.0.0.1", "X-Forwarded-Proto", "http", "Forwarded", "")
		}},
	{name: "CL with spaces", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length:  5 \r\n\r\nhello", code: 200,
		check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }},
	{name: "HTTP/1.0 GET", raw: "GET /old HTTP/1.0\r\n\r\n", code: 200, closes: true,
		check: func(t *testing.T, s seen) {
			// No Host: the address the client connected to (RFC 9112
			// section 3.3), never the worker's own.
			if s.target != "/old" || !strings.HasPrefix(s.host, "127.0.0.1:") || s.host == s.local {
				t.Errorf("target %q, Host %q (the worker is %s)", s.target, s.host, s.local)
			}
			wantHeader(t, s, "X-Forwarded-Host", s.host)
		}},
	// The target's authority wins over the Host header (RFC 9112 section 3.2.2).
	{name: "absolute-form target, another Host", raw: "GET http://other.test/x HTTP/1.1\r\n" + host + "\r\n", code: 200,
		check: func(t *testing.T, s seen) {
			wantTarget(t, s, "/x")
			if s.host != "other.test" {
				t.Errorf("Host %q, want other.test", s.host)
			}
		}},
	{name: "HTTP/1.2 read as HTTP/1.1", raw: "GET /x HTTP/1.2\r\n" + host + "\r\n", code: 200,
		check: func(t *testing.T, s seen) { wantTarget(t, s, "/x") }},
	{name: "dot segments within the root", raw: "GET /a/../x/./y HTTP/1.1\r\n" + host + "\r\n", code: 200,
		check: func(t *testing.T, s seen) { wantTarget(t, s, "/a/../x/./y") }},
	{name: "dot segments in the query", raw: "GET /x?../../.. HTTP/1.1\r\n" + host + "\r\n", code: 200,
		check: func(t *testing.T, s seen) { wantTarget(t, s, "/x?../../..") }},
	// Answered by procmon's own server (RFC 9110 section 9.3.7): no worker sees it.
	{name: "OPTIONS *", raw: "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", code: 200},
	// Answered 100 Continue once, by procmon, which reads the body; the
	// worker does not see the expectation (it would answer a second 100).
	{name: "Expect 100-continue with the body", raw: "POST / HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", code: 200,
		check: func(t *testing.T, s seen) { wantBody(t, s, "hello"); wantHeader(t, s, "Expect", "") }},
	{name: "chunked body", raw: chunked("5;ext=1\r\nhello\r\n0\r\n\r\n"), code: 200,
		check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }},
	// Trailer fields are not passed on: the body goes with its Content-Length.
	{name: "trailer carries Content-Length", raw: chunked("5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n"), code: 200,
		check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }},
	{name: "header name with a dot dropped", raw: "GET / HTTP/1.1\r\n" + host + "X.Forwarded.For: 6.6.6.6\r\nX-Keep: 1\r\n\r\n", code: 200,
		check: func(t *testing.T, s seen) { wantHeader(t, s, "X.Forwarded.For", "", "X-Keep", "1") }},
	{name: "header name with a dot dropped (POST)", raw: "POST / HTTP/1.1\r\n" + host + "X.Forwarded.For: 6.6.6.6\r\nContent-Length: 2\r\n\r\nhi", code: 200,
		check: func(t *testing.T, s seen) { wantHeader(t, s, "X.Forwarded.For", "") }},
	{name: "empty line before request", raw: "\r\nGET /x HTTP/1.1\r\n" + host + "\r\n", code: 200,
		check: func(t *testing.T, s seen) { wantTarget(t, s, "/x") }},
}

// TestProxyConformancePasses: see passes.
func TestProxyConformancePasses(t *testing.T) {
	var rec recordingWorker
	worker, _ := startWorker(t, rec.serve)
	f := startFrontConfig(t, Config{}, nil, worker)
	for _, tc := range passes {
		t.Run(tc.name, func(t *testing.T) {
			tc.passed().expect(t, probe(t, f.addr, &rec, tc.raw))
		})
	}
}

// TestProxyTrustedForwardedHeaders: a client in trusted keeps its
// X-Forwarded-For (appended to) and X-Forwarded-Proto, on both paths.
func TestProxyTrustedForwardedHeaders(t *testing.T) {
	var rec recordingWorker
	worker, _ := startWorker(t, rec.serve)
	cfg := Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	f := startFrontConfig(t, cfg, nil, worker)
	for _, method := range []string{"GET", "POST"} {
		c := f.dial(t)
		c.send(method + " / HTTP/1.1\r\n" + host + "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nContent-Length: 0\r\n\r\n")
		if resp, _ := c.read(method); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", method, resp.StatusCode)
		}
		got := rec.take()
		if len(got) != 1 {
			t.Fatalf("%s: the worker saw %d requests", method, len(got))
		}
		wantHeader(t, got[0], "X-Forwarded-For", "6.6.6.6, 127.0.0.1", "X-Forwarded-Proto", "https")
	}
}

// wantHeader checks name, value pairs; "" means absent.
func wantHeader(t *testing.T, s seen, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if got := strings.Join(s.header.Values(kv[i]), ", "); got != kv[i+1] {
			t.Errorf("%s: %q, want %q", kv[i], got, kv[i+1])
		}
	}
}

func wantBody(t *testing.T, s seen, body string) {
	t.Helper()
	if s.body != body || s.chunked || s.length != int64(len(body)) {
		t.Errorf("body %q (length %d, chunked %v), want %q with its Content-Length", s.body, s.length, s.chunked, body)
	}
}

func wantTarget(t *testing.T, s seen, target string) {
	t.Helper()
	if s.target != target {
		t.Errorf("target %q, want %q", s.target, target)
	}
}
