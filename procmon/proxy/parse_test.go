package proxy

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// spanStrings renders spans of b, for comparing with a table's strings.
func spanStrings(b []byte, ss []span) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, string(s.of(b)))
	}
	return out
}

// TestParsePlainRequest: what the fast path takes from a plain request,
// and what it passes on unchanged.
func TestParsePlainRequest(t *testing.T) {
	cases := []struct {
		name, head    string
		isHead, close bool
		host, proto   string
		xff, forward  []string
	}{
		{name: "GET", head: "GET /a?b=c HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\n\r\n",
			host: "example.test", forward: []string{"Host: example.test\r\n", "User-Agent: t\r\n"}},
		{name: "HEAD", head: "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", isHead: true,
			host: "x", forward: []string{"Host: x\r\n"}},
		{name: "Connection close", head: "GET / HTTP/1.1\r\nConnection: close\r\nHost: x\r\n\r\n", close: true,
			host: "x", forward: []string{"Host: x\r\n"}},
		{name: "Connection keep-alive", head: "GET / HTTP/1.1\r\nHost: x\r\nconnection: Keep-Alive\r\n\r\n",
			host: "x", forward: []string{"Host: x\r\n"}},
		{name: "Connection list", head: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, , CLOSE\r\n\r\n", close: true,
			host: "x", forward: []string{"Host: x\r\n"}},
		{name: "X-Forwarded-For in order", head: "GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.1, 10.0.0.1\r\nHost: x\r\nx-forwarded-for: 10.0.0.2\r\n\r\n",
			host: "x", xff: []string{"203.0.113.1, 10.0.0.1", "10.0.0.2"}, forward: []string{"Host: x\r\n"}},
		{name: "X-Forwarded-Proto first", head: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Proto: http\r\n\r\n",
			host: "x", proto: "https", forward: []string{"Host: x\r\n"}},
		{name: "Forwarded and X-Forwarded-Host dropped", head: "GET / HTTP/1.1\r\nForwarded: for=1.2.3.4\r\nHost: x\r\nX-Forwarded-Host: evil\r\nAccept: */*\r\n\r\n",
			host: "x", forward: []string{"Host: x\r\n", "Accept: */*\r\n"}},
		{name: "values trimmed, lines kept", head: "GET / HTTP/1.1\r\nhost: \t x.test \t\r\nX-A:b\r\nX-A: \r\n\r\n",
			host: "x.test", forward: []string{"host: \t x.test \t\r\n", "X-A:b\r\n", "X-A: \r\n"}},
		{name: "obs-text value", head: "GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xc3\xa9\r\n\r\n",
			host: "x", forward: []string{"Host: x\r\n", "X-Name: caf\xc3\xa9\r\n"}},
	}
	var r plainRequest
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := []byte(tc.head)
			if !parsePlainRequest(h, &r) {
				t.Fatalf("%q: not plain, want plain", tc.head)
			}
			line, _, _ := strings.Cut(tc.head, "\r\n")
			got := []string{string(r.line.of(h)), string(r.host.of(h)), string(r.proto.of(h))}
			want := []string{line, tc.host, tc.proto}
			if !slices.Equal(got, want) || r.isHead != tc.isHead || r.close != tc.close {
				t.Errorf("line, host, proto %q head %v close %v; want %q %v %v", got, r.isHead, r.close, want, tc.isHead, tc.close)
			}
			if xff := spanStrings(h, r.xff); !slices.Equal(xff, tc.xff) {
				t.Errorf("X-Forwarded-For %q, want %q", xff, tc.xff)
			}
			if fwd := spanStrings(h, r.forward); !slices.Equal(fwd, tc.forward) {
				t.Errorf("forward %q, want %q", fwd, tc.forward)
			}
		})
	}
}

// TestParsePlainRequestRefuses: everything that is not a plain GET or
// HEAD goes to net/http, which knows HTTP/1.x's every corner.
func TestParsePlainRequestRefuses(t *testing.T) {
	const host = "Host: x\r\n"
	cases := map[string]string{
		"POST":                      "POST / HTTP/1.1\r\n" + host + "\r\n",
		"lowercase method":          "get / HTTP/1.1\r\n" + host + "\r\n",
		"HTTP/1.0":                  "GET / HTTP/1.0\r\n" + host + "\r\n",
		"HTTP/2.0":                  "GET / HTTP/2.0\r\n" + host + "\r\n",
		"absolute-form":             "GET http://x/ HTTP/1.1\r\n" + host + "\r\n",
		"asterisk":                  "GET * HTTP/1.1\r\n" + host + "\r\n",
		"empty target":              "GET  HTTP/1.1\r\n" + host + "\r\n",
		"space in target":           "GET /a b HTTP/1.1\r\n" + host + "\r\n",
		"DEL in target":             "GET /a\x7f HTTP/1.1\r\n" + host + "\r\n",
		"trailing space":            "GET / HTTP/1.1 \r\n" + host + "\r\n",
		"no Host":                   "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
		"two Hosts":                 "GET / HTTP/1.1\r\n" + host + "host: y\r\n\r\n",
		"Content-Length":            "GET / HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n",
		"Transfer-Encoding":         "GET / HTTP/1.1\r\n" + host + "transfer-encoding: chunked\r\n\r\n",
		"Upgrade":                   "GET / HTTP/1.1\r\n" + host + "Upgrade: websocket\r\n\r\n",
		"Expect":                    "GET / HTTP/1.1\r\n" + host + "Expect: 100-continue\r\n\r\n",
		"TE":                        "GET / HTTP/1.1\r\n" + host + "TE: trailers\r\n\r\n",
		"Keep-Alive":                "GET / HTTP/1.1\r\n" + host + "Keep-Alive: timeout=5\r\n\r\n",
		"Proxy-Connection":          "GET / HTTP/1.1\r\n" + host + "Proxy-Connection: close\r\n\r\n",
		"Connection upgrade":        "GET / HTTP/1.1\r\n" + host + "Connection: upgrade\r\n\r\n",
		"Connection naming headers": "GET / HTTP/1.1\r\n" + host + "Connection: close, X-Foo\r\n\r\n",
		"folded line":               "GET / HTTP/1.1\r\n" + host + "X-A: b\r\n c\r\n\r\n",
		"folded line with colon":    "GET / HTTP/1.1\r\n" + host + "X-A: b\r\n\tX-B: c\r\n\r\n",
		"space before colon":        "GET / HTTP/1.1\r\n" + host + "Content-Length : 5\r\n\r\n",
		"bad header name":           "GET / HTTP/1.1\r\n" + host + "X(A): b\r\n\r\n",
		"empty header name":         "GET / HTTP/1.1\r\n" + host + ": b\r\n\r\n",
		"no colon":                  "GET / HTTP/1.1\r\n" + host + "X-A b\r\n\r\n",
		"NUL in value":              "GET / HTTP/1.1\r\n" + host + "X-A: b\x00c\r\n\r\n",
		"CR in value":               "GET / HTTP/1.1\r\n" + host + "X-A: b\rc\r\n\r\n",
		"LF in value":               "GET / HTTP/1.1\r\n" + host + "X-A: b\nc\r\n\r\n",
		"DEL in value":              "GET / HTTP/1.1\r\n" + host + "X-A: b\x7f\r\n\r\n",
		"missing final CRLF":        "GET / HTTP/1.1\r\n" + host,
		"bytes after the head":      "GET / HTTP/1.1\r\n" + host + "\r\nGET",
		"leading empty line":        "\r\nGET / HTTP/1.1\r\n" + host + "\r\n",
		"bare LF line ends":         "GET / HTTP/1.1\n" + host + "\r\n",
		"empty":                     "",
	}
	var r plainRequest
	for name, head := range cases {
		if parsePlainRequest([]byte(head), &r) {
			t.Errorf("%s: %q parsed as plain, want refused", name, head)
		}
	}
}

// TestParsePlainRequestReuse: parsing into a used plainRequest leaves
// nothing of the earlier request behind.
func TestParsePlainRequestReuse(t *testing.T) {
	var r plainRequest
	first := []byte("HEAD / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
	second := []byte("GET /b HTTP/1.1\r\nHost: b\r\n\r\n")
	if !parsePlainRequest(first, &r) || !parsePlainRequest(second, &r) {
		t.Fatal("not plain")
	}
	if r.isHead || r.close || len(r.xff) != 0 || r.proto != (span{}) || len(r.forward) != 1 || string(r.host.of(second)) != "b" {
		t.Fatalf("second parse kept the first's state: %+v", r)
	}
}

// TestParseWorkerAnswer: how an answer's body is framed, whether its
// connection can carry another request, and which lines are passed on.
func TestParseWorkerAnswer(t *testing.T) {
	cases := []struct {
		name, head    string
		isHead        bool
		code          int
		status        string
		framing       bodyFraming
		length        int64
		reuse, closes bool
		forward       []string
	}{
		{name: "200 with length", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 5, reuse: true,
			forward: []string{"Content-Length: 5\r\n", "Content-Type: text/plain\r\n"}},
		{name: "repeated equal lengths", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 5, reuse: true,
			forward: []string{"Content-Length: 5\r\n", "content-length: 5\r\n"}},
		{name: "chunked", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nTrailer: X-Sum\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyChunked, length: -1, reuse: true,
			forward: []string{"Transfer-Encoding: Chunked\r\n", "Trailer: X-Sum\r\n"}},
		{name: "no length: until close", head: "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyUntilClose, length: -1, forward: []string{"X-A: b\r\n"}},
		{name: "no reason phrase", head: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			code: 200, status: "200", framing: bodyLength, length: 0, reuse: true, forward: []string{"Content-Length: 0\r\n"}},
		{name: "HEAD", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", isHead: true,
			code: 200, status: "200 OK", framing: bodyNone, length: 5, reuse: true, forward: []string{"Content-Length: 5\r\n"}},
		{name: "HEAD without length", head: "HTTP/1.1 200 OK\r\n\r\n", isHead: true,
			code: 200, status: "200 OK", framing: bodyNone, length: -1, reuse: true, forward: []string{}},
		{name: "204", head: "HTTP/1.1 204 No Content\r\n\r\n",
			code: 204, status: "204 No Content", framing: bodyNone, length: -1, reuse: true, forward: []string{}},
		{name: "304 with length", head: "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\nETag: \"a\"\r\n\r\n",
			code: 304, status: "304 Not Modified", framing: bodyNone, length: 9, reuse: true,
			forward: []string{"Content-Length: 9\r\n", "ETag: \"a\"\r\n"}},
		{name: "103", head: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
			code: 103, status: "103 Early Hints", framing: bodyNone, length: -1, reuse: true,
			forward: []string{"Link: </a.css>; rel=preload\r\n"}},
		{name: "1.1 Connection close", head: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 1, closes: true, forward: []string{"Content-Length: 1\r\n"}},
		{name: "1.1 Connection keep-alive", head: "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 1, reuse: true, forward: []string{"Content-Length: 1\r\n"}},
		{name: "close wins over keep-alive", head: "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 1\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 1, closes: true, forward: []string{"Content-Length: 1\r\n"}},
		{name: "1.0", head: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 1, forward: []string{"Content-Length: 1\r\n"}},
		{name: "1.0 keep-alive", head: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 1, reuse: true, forward: []string{"Content-Length: 1\r\n"}},
		{name: "1.0 keep-alive without length", head: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyUntilClose, length: -1, forward: []string{}},
		{name: "1.0 close", head: "HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 1, closes: true, forward: []string{"Content-Length: 1\r\n"}},
		{name: "Connection names headers", head: "HTTP/1.1 200 OK\r\nX-Foo: 1\r\nConnection: x-foo, X-Bar\r\nContent-Length: 0\r\nX-BAR: 2\r\nX-Foo-Not: 3\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 0, reuse: true,
			forward: []string{"Content-Length: 0\r\n", "X-Foo-Not: 3\r\n"}},
		{name: "hop-by-hop dropped", head: "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
			code: 200, status: "200 OK", framing: bodyLength, length: 0, reuse: true, forward: []string{"Content-Length: 0\r\n"}},
	}
	var a workerAnswer
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := []byte(tc.head)
			if err := parseWorkerAnswer(h, tc.isHead, &a); err != nil {
				t.Fatalf("%q: %v", tc.head, err)
			}
			if a.code != tc.code || string(a.status.of(h)) != tc.status || a.framing != tc.framing || a.length != tc.length {
				t.Errorf("code %d status %q framing %d length %d; want %d %q %d %d",
					a.code, a.status.of(h), a.framing, a.length, tc.code, tc.status, tc.framing, tc.length)
			}
			if a.reuse != tc.reuse || a.closes != tc.closes {
				t.Errorf("reuse %v closes %v; want %v %v", a.reuse, a.closes, tc.reuse, tc.closes)
			}
			if fwd := spanStrings(h, a.forward); !slices.Equal(fwd, tc.forward) {
				t.Errorf("forward %q, want %q", fwd, tc.forward)
			}
		})
	}
}

// TestParseWorkerAnswerErrors: an answer the fast path cannot frame
// safely is refused (and becomes a 502).
func TestParseWorkerAnswerErrors(t *testing.T) {
	cases := map[string]string{
		"empty":                  "",
		"no CRLF":                "HTTP/1.1 200 OK",
		"short status line":      "HTTP/1.1 20\r\n\r\n",
		"HTTP/2":                 "HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.2":               "HTTP/1.2 200 OK\r\n\r\n",
		"not HTTP":               "ICY 200 OK\r\n\r\n",
		"letters for code":       "HTTP/1.1 abc OK\r\n\r\n",
		"code below 100":         "HTTP/1.1 099 Low\r\n\r\n",
		"signed code":            "HTTP/1.1 +20 OK\r\n\r\n",
		"four-digit code":        "HTTP/1.1 2000 OK\r\n\r\n",
		"no space after version": "HTTP/1.1\t200 OK\r\n\r\n",
		"unterminated head":      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
		"conflicting lengths":    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"negative length":        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"length not a number":    "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n",
		"length list":            "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
		"empty length":           "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
		"length and chunked":     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"chunked and length":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"gzip":                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"gzip, chunked":          "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"chunked twice":          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"bad header name":        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"folded line":            "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n",
		"NUL in value":           "HTTP/1.1 200 OK\r\nX-A: b\x00\r\n\r\n",
		"LF in value":            "HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 0\r\n\r\n",
	}
	var a workerAnswer
	for name, head := range cases {
		for _, isHead := range []bool{false, true} {
			err := parseWorkerAnswer([]byte(head), isHead, &a)
			if !errors.Is(err, errBadAnswer) {
				t.Errorf("%s (HEAD %v): %q gave %v, want errBadAnswer", name, isHead, head, err)
			}
		}
	}
}

// TestParseWorkerAnswerSignedLength: RFC 9110 Content-Length is 1*DIGIT.
// The fast path passes the line on verbatim, so a length it reads
// differently from the client (Go's client refuses "+5") splits the two
// views of where the answer ends.
func TestParseWorkerAnswerSignedLength(t *testing.T) {
	var a workerAnswer
	err := parseWorkerAnswer([]byte("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"), false, &a)
	if !errors.Is(err, errBadAnswer) {
		t.Error("parseWorkerAnswer accepts Content-Length: +5; want errBadAnswer")
	}
}

// TestParseWorkerAnswerFramingHeadersKept: the framing headers the proxy
// copies the body by must reach the client, or the client cannot tell
// where the answer ends on a connection the proxy keeps open.
func TestParseWorkerAnswerFramingHeadersKept(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		var a workerAnswer
		h := []byte(head)
		if err := parseWorkerAnswer(h, false, &a); err != nil {
			continue // refusing it is fine too
		}
		framed := false
		for _, l := range spanStrings(h, a.forward) {
			framed = framed || strings.HasPrefix(l, "Content-Length:") || strings.HasPrefix(l, "Transfer-Encoding:")
		}
		if !framed && a.framing != bodyUntilClose {
			t.Errorf("%q: framing %d but no framing header passed on (Connection named it)", head, a.framing)
		}
	}
}

// TestParseWorkerAnswerStatusLineControls: the status line is passed on
// verbatim, so a bare LF or CR in it (RFC 9112 reason-phrase is HTAB, SP,
// VCHAR and obs-text only) would start a header line the client reads
// and the proxy never vetted: a Transfer-Encoding the proxy does not
// frame by, or a hop-by-hop header.
func TestParseWorkerAnswerStatusLineControls(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\rX: y\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n",
	} {
		var a workerAnswer
		if err := parseWorkerAnswer([]byte(head), false, &a); err == nil {
			t.Errorf("parseWorkerAnswer(%q) took status %q; want errBadAnswer", head, a.status.of([]byte(head)))
		}
	}
}

// TestParseWorkerAnswerHTTP10TransferEncoding: an HTTP/1.0 answer with
// Transfer-Encoding may have faulty framing (RFC 9112 section 6.1): its
// connection must not carry another request, keep-alive or not.
func TestParseWorkerAnswerHTTP10TransferEncoding(t *testing.T) {
	var a workerAnswer
	err := parseWorkerAnswer([]byte("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"), false, &a)
	if err == nil && a.reuse {
		t.Error("an HTTP/1.0 answer with Transfer-Encoding and keep-alive leaves its worker connection reused")
	}
}

// TestChunkSize reads chunk-size lines, extensions and all.
func TestChunkSize(t *testing.T) {
	good := map[string]int64{
		"0\r\n": 0, "5\r\n": 5, "a\r\n": 10, "A\r\n": 10, "1f\r\n": 31, "0010\r\n": 16,
		"1f;name=val\r\n": 31, "10 \t\r\n": 16, "10 ; ext\r\n": 16, "10;\r\n": 16,
		"fffffffffffffff\r\n": 1<<60 - 1,
	}
	for line, want := range good {
		if n, err := chunkSize([]byte(line)); err != nil || n != want {
			t.Errorf("chunkSize(%q) = %d, %v; want %d", line, n, err, want)
		}
	}
	for _, line := range []string{"\r\n", ";ext\r\n", "g\r\n", " 5\r\n", "-1\r\n", "0x10\r\n", "1_0\r\n", "1fffffffffffffff\r\n"} {
		if n, err := chunkSize([]byte(line)); !errors.Is(err, errBadAnswer) {
			t.Errorf("chunkSize(%q) = %d, %v; want errBadAnswer", line, n, err)
		}
	}
}

// TestChunkSizeSigned: chunk-size is 1*HEXDIG; a sign is read by the fast
// path but refused by clients it passes the body to verbatim, and "-0"
// ends the body where the client sees no last chunk.
func TestChunkSizeSigned(t *testing.T) {
	for _, line := range []string{"+a\r\n", "-0\r\n", "+0\r\n"} {
		if n, err := chunkSize([]byte(line)); err == nil {
			t.Errorf("chunkSize(%q) = %d, nil; want errBadAnswer", line, n)
		}
	}
}

func inRange(s span, n int) bool { return 0 <= s.start && s.start <= s.end && s.end <= n }

// FuzzParsePlainRequest: the request parser never panics, and what it
// takes for plain is a GET or HEAD whose spans lie inside the head.
func FuzzParsePlainRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HEAD /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"))
	var r plainRequest
	f.Fuzz(func(t *testing.T, head []byte) {
		if !parsePlainRequest(head, &r) {
			return
		}
		n := len(head)
		if r.line.start != 0 || !inRange(r.line, n) || !inRange(r.host, n) || !inRange(r.proto, n) {
			t.Fatalf("%q: span out of range: %+v", head, r)
		}
		if line := r.line.of(head); !bytes.HasPrefix(line, []byte("GET ")) && !bytes.HasPrefix(line, []byte("HEAD ")) {
			t.Fatalf("%q: plain with request line %q", head, line)
		}
		if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			t.Fatalf("%q: plain without the final empty line", head)
		}
		for _, s := range append(slices.Clip(r.xff), r.forward...) {
			if !inRange(s, n) {
				t.Fatalf("%q: span %+v out of range", head, s)
			}
		}
		for _, s := range r.forward {
			if !bytes.HasSuffix(s.of(head), crlf) {
				t.Fatalf("%q: forwarded line %q without CRLF", head, s.of(head))
			}
		}
	})
}

// FuzzParseWorkerAnswer: the answer parser never panics, and its spans
// lie inside the head.
func FuzzParseWorkerAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), true)
	var a workerAnswer
	f.Fuzz(func(t *testing.T, head []byte, isHead bool) {
		if parseWorkerAnswer(head, isHead, &a) != nil {
			return
		}
		n := len(head)
		if !inRange(a.status, n) || a.code < 100 || a.code > 999 {
			t.Fatalf("%q: status %+v code %d", head, a.status, a.code)
		}
		for _, s := range append(slices.Clip(a.forward), a.drop...) {
			if !inRange(s, n) {
				t.Fatalf("%q: span %+v out of range", head, s)
			}
		}
		if a.framing == bodyUntilClose && a.reuse {
			t.Fatalf("%q: a body read until close on a reused connection", head)
		}
		if a.framing == bodyLength && a.length < 0 {
			t.Fatalf("%q: framed by a length of %d", head, a.length)
		}
	})
}
