package proxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A streamed answer to a request net/http carries (one with a body, an
// HTTP/1.0 one) is long-lived as on procmon's own loop (stream.go): it
// is counted on its Backend while it streams, a drain ends it in the
// same spread as the others, and it ends at a boundary. Here the answer
// reaches procmon dechunked, and net/http's server frames it again for
// the client, so its boundaries are those of the reads: the answer ends
// between two reads, and for an event stream between two events; the
// client gets a complete answer (net/http writes the last chunk, or
// closes an answer framed by its end). A drain wakes a read that waits
// for the worker by cancelling the request's context, which ends the
// worker connection; bytes read after that are not passed on. A worker
// caught in the middle of an event has streamGrace to finish it, then
// the answer is cut.

// stdStream is the body of an answer that streams on the net/http path.
type stdStream struct {
	io.ReadCloser // the answer's counted body
	b             *Backend
	wake          context.CancelFunc // cancels the request to the worker
	events        bool               // an event stream: it ends between events

	mu    sync.Mutex
	asked bool        // a drain asked the answer to end
	woken bool        // wake was called: reads from now on are not passed on
	grace *time.Timer // wakes a worker caught mid-event
	streamTail
}

// answerStreams says whether a worker's answer streams: a body without
// an announced length (chunked, or until the worker closes).
func answerStreams(resp *http.Response) bool {
	return resp.ContentLength < 0 && resp.Body != http.NoBody
}

// streamStd counts resp's streamed body on b as long-lived until it is
// closed; wake cancels the request's context.
func streamStd(resp *http.Response, b *Backend, wake context.CancelFunc) {
	s := &stdStream{ReadCloser: resp.Body, b: b, wake: wake, events: isEventStream(resp.Header.Get("Content-Type"))}
	resp.Body = s
	b.track(s, s.end)
}

// isEventStream says whether an answer's Content-Type is an event stream's.
func isEventStream(ct string) bool {
	return len(ct) >= len(eventStream) && strings.EqualFold(ct[:len(eventStream)], eventStream)
}

// boundary says whether what was passed on may end here; s.mu held.
func (s *stdStream) boundary() bool { return !s.events || s.betweenEvents() }

// Read passes the body on until a drain asked it to end and it is at a
// boundary (then io.EOF).
func (s *stdStream) Read(p []byte) (int, error) {
	s.mu.Lock()
	ended := s.asked && s.boundary()
	s.mu.Unlock()
	if ended {
		return 0, io.EOF
	}
	n, err := s.ReadCloser.Read(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.woken && s.boundary() {
		return 0, io.EOF // read after the wake: what was passed on ends here
	}
	s.note(p[:n])
	if s.asked && s.boundary() {
		return n, io.EOF
	}
	return n, err
}

// end is a drain's end for the answer (called with the Backend's lock
// held): at a boundary it wakes the read at once; in the middle of an
// event it lets the worker finish it for streamGrace.
func (s *stdStream) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = true
	if s.boundary() {
		s.woken = true
		s.wake()
		return
	}
	s.grace = time.AfterFunc(streamGrace, func() {
		s.mu.Lock()
		s.woken = true
		s.mu.Unlock()
		s.wake()
	})
}

// Close ends the count, and the request to the worker.
func (s *stdStream) Close() error {
	s.b.untrack(s)
	s.mu.Lock()
	if s.grace != nil {
		s.grace.Stop()
	}
	s.mu.Unlock()
	err := s.ReadCloser.Close()
	s.wake()
	return err
}
