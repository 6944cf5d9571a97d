package procmon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// TestReloadEndsEventStreamWithinDrainTimeout: a real event stream
// through the proxy shows in `procmon status` as long-lived on its worker
// at once (the status is not a snapshot from before the stream opened),
// and a reload ends it cleanly (a complete answer, ending between two
// events) within drain_timeout, rather than keeping the old worker until
// stop_timeout and then cutting the stream wherever it is.
func TestReloadEndsEventStreamWithinDrainTimeout(t *testing.T) {
	td := startDaemon(t, newTestApp(t, appSpec{workers: 1, extra: "stop_timeout = \"20s\"\n[proxy]\ndrain_timeout = \"1s\"\n"}))
	resp, err := http.Get(td.url("/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 16)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	st, err := td.client.Status(context.Background())
	if err != nil || len(st.Workers) != 1 || st.Workers[0].LongLived != 1 {
		t.Fatalf("status while an event stream is open: %+v, %v; want 1 worker with 1 long-lived connection", st.Workers, err)
	}
	gen := st.Workers[0].Generation
	start := time.Now()
	td.touch()
	rest, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the event stream was cut (%v) %s after the reload began, after %q", err, took, rest)
	}
	body := string(first) + string(rest)
	if !strings.HasSuffix(body, "data: two\n\n") || strings.Count(body, " one\n") != strings.Count(body, "data: two\n") {
		t.Errorf("the stream ended inside an event: %q", body)
	}
	// The new generation's start, then drain_timeout (1 s), plus the
	// grace of a worker caught mid-event: far below stop_timeout (20 s).
	if took > 8*time.Second {
		t.Errorf("the stream ended %s after the reload began, want within drain_timeout of the switch", took)
	}
	td.waitDaemonStatus(t, "the old generation gone, nothing long-lived", func(st control.Status) bool {
		return len(st.Workers) == 1 && st.Workers[0].Generation != gen && st.Workers[0].LongLived == 0
	})
}

// TestReloadDrainsStreamsOfBothPathsInOneSpread: event streams that went
// through net/http (a POST, and an HTTP/1.0 GET, answered until close)
// count as long-lived and end in the same spread over drain_timeout as
// those of procmon's own loop: six streams, six ends about
// drain_timeout/6 apart, each a complete answer ending between two
// events, long before stop_timeout. Before, the net/http ones were not
// counted and stayed open until the old worker was stopped, which cut
// them.
func TestReloadDrainsStreamsOfBothPathsInOneSpread(t *testing.T) {
	const drain = 3 * time.Second
	td := startDaemon(t, newTestApp(t, appSpec{workers: 1, extra: "stop_timeout = \"20s\"\n[proxy]\ndrain_timeout = \"3s\"\n"}))
	requests := []string{
		"GET /events HTTP/1.1\r\nHost: x\r\n\r\n", // procmon's own loop
		"GET /events HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", // net/http: a body
		"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
		"GET /events HTTP/1.0\r\nHost: x\r\n\r\n", // net/http: HTTP/1.0, until close
		"GET /events HTTP/1.0\r\nHost: x\r\n\r\n",
	}
	streams := make([]*openStream, len(requests))
	for i, req := range requests {
		streams[i] = openEventStream(t, td.listen, req)
	}
	st, err := td.client.Status(context.Background())
	if err != nil || len(st.Workers) != 1 || st.Workers[0].LongLived != len(requests) {
		t.Fatalf("status with %d event streams open: %+v, %v; want 1 worker with %d long-lived connections", len(requests), st.Workers, err, len(requests))
	}
	start := time.Now()
	td.touch()
	ends := make(chan time.Duration, len(streams))
	for i, s := range streams {
		go func() {
			err := s.finish()
			if err != nil {
				t.Errorf("stream %d (%q): %v", i, requests[i], err)
			}
			ends <- time.Since(start)
		}()
	}
	var at []time.Duration
	for range streams {
		at = append(at, <-ends)
	}
	slices.Sort(at)
	// The new generation's start, then drain_timeout, far below
	// stop_timeout (20 s); the ends drain/6 (0.5 s) apart, give or take
	// the 30 ms a worker caught mid-event takes to finish it.
	if last := at[len(at)-1]; last > drain+8*time.Second {
		t.Errorf("the last stream ended %s after the reload began, want within drain_timeout (%s) of the switch; ends at %v", last, drain, at)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i] - at[i-1]; gap < drain/6/2 {
			t.Errorf("streams ended %s apart, want about %s (drain_timeout spread over %d): ends at %v", gap, drain/6, len(at), at)
			break
		}
	}
}

// openStream is an event stream open through the proxy, its first bytes
// read.
type openStream struct {
	conn net.Conn
	resp *http.Response
	got  []byte
}

// openEventStream sends req (a raw request for /events) on a connection
// of its own and reads the answer's head and first event. The connection
// is closed when the test ends; its reads give up after testStreamWait.
func openEventStream(t *testing.T, addr, req string) *openStream {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testStreamWait))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%q answered %v, %v; want an event stream", req, resp, err)
	}
	s := &openStream{conn: conn, resp: resp, got: make([]byte, 16)}
	if _, err := io.ReadFull(resp.Body, s.got); err != nil {
		t.Fatalf("%q: the first event: %v", req, err)
	}
	return s
}

// testStreamWait bounds a test's wait for a stream to end: beyond
// stop_timeout in the tests that use it.
const testStreamWait = 30 * time.Second

// finish reads the stream to its end and says what is wrong with it: cut
// (an error) or ended inside an event.
func (s *openStream) finish() error {
	rest, err := io.ReadAll(s.resp.Body)
	body := string(s.got) + string(rest)
	if err != nil {
		return fmt.Errorf("cut (%w) after %q", err, body)
	}
	if !strings.HasSuffix(body, "data: two\n\n") || strings.Count(body, " one\n") != strings.Count(body, "data: two\n") {
		return fmt.Errorf("ended inside an event: %q", body)
	}
	return nil
}
