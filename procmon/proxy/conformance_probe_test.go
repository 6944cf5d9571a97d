package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// How a conformance case is run against a proxy, procmon or nginx: its
// bytes on a fresh connection, the answer read, then a plain GET /after
// on the same connection. An answer to that GET means the connection was
// kept, and the worker must have seen it as the one request after the
// case's: bytes the proxy left behind (a smuggled request) would show as
// another request at the worker or a different answer.

// after is the request that follows every case.
const after = "GET /after HTTP/1.1\r\n" + host + "\r\n"

// answer is what a proxy did with a case's bytes.
type answer struct {
	code    int    // the final status; 0 for an answer without a status line (HTTP/0.9)
	closes  bool   // the connection ended after the answer
	said    bool   // the answer said it would (Connection: close, or HTTP/1.0 without keep-alive)
	interim int    // 1xx answers before it
	seen    []seen // what the worker saw of the case (not of GET /after)
}

func (a answer) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", a.code)
	if a.closes {
		b.WriteString(", closed")
	}
	for _, s := range a.seen {
		fmt.Fprintf(&b, "; the worker saw %s %s (%d body bytes)", s.method, s.target, len(s.body))
	}
	return b.String()
}

// outcome is what a case expects of a proxy.
type outcome struct {
	code   int
	closes bool
	check  func(t *testing.T, s seen) // the one request the worker saw; nil: it saw none
}

// expect fails t where got is not o.
func (o outcome) expect(t *testing.T, got answer) {
	t.Helper()
	if got.code != o.code || got.closes != o.closes {
		t.Errorf("answered %d (closed %v), want %d (closed %v)", got.code, got.closes, o.code, o.closes)
	}
	if got.closes != got.said {
		t.Errorf("the connection was closed: %v; the answer said so: %v", got.closes, got.said)
	}
	if got.interim > 1 {
		t.Errorf("%d interim (1xx) answers before the final one, want one at most", got.interim)
	}
	switch {
	case o.check == nil && len(got.seen) > 0:
		t.Errorf("the worker saw %+v, want nothing", got.seen)
	case o.check != nil && len(got.seen) != 1:
		t.Errorf("the worker saw %d requests (%+v), want 1", len(got.seen), got.seen)
	case o.check != nil:
		o.check(t, got.seen[0])
	}
}

// probe sends raw to the proxy at addr, whose worker records into rec,
// and says what happened; see above.
func probe(t *testing.T, addr string, rec *recordingWorker, raw string) answer {
	t.Helper()
	rec.take()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testWait))
	br := bufio.NewReader(nc)
	if _, err := io.WriteString(nc, raw); err != nil {
		t.Fatal(err)
	}
	var a answer
	if a.code, a.said, a.interim, err = readFinal(br); err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	if a.code == 0 { // HTTP/0.9: the answer ends with the connection
		a.closes = true
		a.seen = rec.take()
		return a
	}
	io.WriteString(nc, after) // fails when the proxy closed: read says so
	if _, err := br.Peek(1); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no answer to GET /after and no close within %s", testWait)
		}
		a.closes = true
		a.seen = rec.take()
		return a
	}
	code, _, _, err := readFinal(br)
	a.seen = rec.take()
	if err != nil || code != http.StatusOK || len(a.seen) == 0 || a.seen[len(a.seen)-1].target != "/after" {
		t.Fatalf("GET /after on the kept connection: %d, %v; the worker saw %+v", code, err, a.seen)
	}
	a.seen = a.seen[:len(a.seen)-1]
	return a
}

// readFinal reads answers up to the final one (past 1xx interim ones),
// bodies and all, and returns its status, whether it announced the end
// of the connection, and how many interim answers came first. An HTTP/0.9
// answer (no status line, it ends with the connection) is 0.
func readFinal(br *bufio.Reader) (code int, closes bool, interim int, err error) {
	for ; ; interim++ {
		if start, err := br.Peek(5); err == nil && string(start) != "HTTP/" {
			_, err := io.Copy(io.Discard, br)
			return 0, true, interim, err
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			return 0, false, interim, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, false, interim, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp.StatusCode, resp.Close, interim, nil
		}
	}
}
