package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// eventWorker streams server-sent events, each written in two halves
// with mid of silence between them and gap after the event, until its
// client leaves (at most testWait).
func eventWorker(mid, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 0; ; i++ {
			for _, part := range []string{fmt.Sprintf("id: %d\ndata: one\n", i), "data: two\n\n"} {
				io.WriteString(w, part)
				if rc.Flush() != nil {
					return
				}
				wait := mid
				if strings.HasSuffix(part, "\n\n") {
					wait = gap
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(wait):
				case <-time.After(testWait):
					return
				}
			}
		}
	}
}

// TestDrainEndsEventStreamBetweenEvents: an event stream counts as
// long-lived on its worker, and a drain ends it within its window plus
// the grace for a worker caught mid-event: the client gets a complete
// chunked answer that ends between two events, never inside one, and its
// connection stays usable for the next request (to another worker). The
// same on procmon's own loop (a GET) and on net/http's (a POST).
// Before, a stream was not counted, and a drain left it open until the
// worker was stopped, which cut it wherever it was.
func TestDrainEndsEventStreamBetweenEvents(t *testing.T) {
	for _, tc := range []struct {
		name     string
		req      string
		mid, gap time.Duration
	}{
		{"drained mid-event", "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", 200 * time.Millisecond, 10 * time.Millisecond},
		{"drained while the stream is idle", "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", 10 * time.Millisecond, testWait},
		{"net/http, drained mid-event", "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 200 * time.Millisecond, 10 * time.Millisecond},
		{"net/http, drained while the stream is idle", "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 10 * time.Millisecond, testWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, _ := startWorker(t, eventWorker(tc.mid, tc.gap))
			plain, _ := startWorker(t, echo)
			f := startFront(t, events)
			b := f.p.Pool.backends.Load()
			eb := (*b)[0]
			c := f.dial(t)
			c.send(tc.req)
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			if err != nil || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("answer %v, %v", resp, err)
			}
			first := make([]byte, 8)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatal(err)
			}
			if n := eb.LongLived(); n != 1 {
				t.Fatalf("%d long-lived connections counted on the worker while its event stream is open, want 1", n)
			}
			f.p.Set([]*Backend{eb, backendFor(t, plain.URL)})
			eb.Retire()
			const window = 300 * time.Millisecond
			start := time.Now()
			eb.Drain(window)
			rest, err := io.ReadAll(resp.Body)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("the stream ended with %v after %q: cut, not ended", err, rest)
			}
			body := string(first) + string(rest)
			if !strings.HasSuffix(body, "data: two\n\n") || strings.Count(body, "one") != strings.Count(body, "two") {
				t.Errorf("the stream ended inside an event: %q", body)
			}
			if took < window-50*time.Millisecond || took > window+streamGrace+time.Second {
				t.Errorf("the stream ended %s after a %s drain began, want about the window (plus %s at most)", took, window, streamGrace)
			}
			c.get("/next", 200, "GET /next ")
			waitIdleBackend(t, eb)
		})
	}
}

// TestDrainCutsAStreamStuckMidEvent: a worker that stays in the middle
// of an event when a drain asks its stream to end gets streamGrace to
// finish it, then the stream is cut (the client sees an incomplete
// answer, not a clean end inside an event), on both paths.
func TestDrainCutsAStreamStuckMidEvent(t *testing.T) {
	for _, req := range []string{
		"GET /events HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
	} {
		t.Run(strings.Fields(req)[0], func(t *testing.T) {
			events, _ := startWorker(t, eventWorker(testWait, time.Millisecond)) // stuck after the first half
			f := startFront(t, events)
			eb := (*f.p.Pool.backends.Load())[0]
			c := f.dial(t)
			c.send(req)
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			if err != nil || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("answer %v, %v", resp, err)
			}
			first := make([]byte, 8)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatal(err)
			}
			eb.Retire()
			start := time.Now()
			eb.Drain(time.Millisecond)
			rest, err := io.ReadAll(resp.Body)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("the stream ended cleanly inside an event: %q", string(first)+string(rest))
			}
			if took < streamGrace-50*time.Millisecond || took > streamGrace+2*time.Second {
				t.Errorf("the stream was cut %s after the drain, want after streamGrace (%s)", took, streamGrace)
			}
			waitIdleBackend(t, eb)
		})
	}
}
