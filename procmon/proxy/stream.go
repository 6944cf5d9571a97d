package proxy

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// A streamed answer (an event stream, or any answer without a
// Content-Length: chunked, or ended by the worker's close) is long-lived
// like an upgrade: while it streams it is counted on its Backend
// (Backend.LongLived, shown by `procmon status`), and a drain ends it
// within drain_timeout, spread with the others. A drain does not cut it
// where it happens to be: it wakes the relay's read of the worker, and
// the answer ends at its next boundary, between two chunks (the last
// chunk is written, so the client sees a complete answer) and, for an
// event stream, between two events, so that the client never gets half
// an event. A worker caught in the middle of an event has streamGrace to
// finish it, then the connection is cut.

// streamGrace is how long a drain lets a worker finish the event (or the
// chunk) it is in the middle of.
const streamGrace = time.Second

// errStreamEnded: a drain ended the streamed answer cleanly at a
// boundary; the worker connection, left mid-answer, is not reused.
var errStreamEnded = errors.New("streamed answer ended by a drain")

// streamEnd is the drain state of one streamed answer.
type streamEnd struct {
	asked  atomic.Bool // a drain asked the answer to end
	worker net.Conn    // the worker connection whose read a drain wakes
	graced bool        // the worker already got its streamGrace
	streamTail
}

// streamTail is what was passed on of a streamed answer, as much as
// finding its boundaries needs.
type streamTail struct {
	sent bool    // some of the body was passed on
	tail [3]byte // the body's last bytes passed on
}

// note records the last bytes of b, a piece of the body passed on.
func (s *streamTail) note(b []byte) {
	if len(b) == 0 {
		return
	}
	s.sent = true
	if len(b) >= len(s.tail) {
		copy(s.tail[:], b[len(b)-len(s.tail):])
		return
	}
	copy(s.tail[:], s.tail[len(b):])
	copy(s.tail[len(s.tail)-len(b):], b)
}

// betweenEvents says whether what was passed on of an event stream ends
// with a whole event: nothing yet, or an empty line (LF LF, or a CRLF
// after a line's end).
func (s *streamTail) betweenEvents() bool {
	t := s.tail
	return !s.sent || t[2] == '\n' && (t[1] == '\n' || t[1] == '\r' && t[0] == '\n')
}

// paused decides what a failed read of the worker's answer means; retry
// says to read again. Only a drain's wake-up of a streamed answer is not
// a failure: at a boundary the answer ends there (see ending), elsewhere
// the worker gets streamGrace to reach the next boundary.
func (r *answerRelay) paused(err error, boundary bool) (retry bool, _ error) {
	s := r.stream
	if s == nil || !s.asked.Load() || !isDeadline(err) {
		return false, err
	}
	if r.ending(boundary) {
		return false, r.end()
	}
	if s.graced {
		return false, err
	}
	s.graced = true
	s.worker.SetReadDeadline(time.Now().Add(streamGrace))
	return true, nil
}

// ending says whether a streamed answer a drain asked to end ends here:
// at a boundary (boundary, and between events for an event stream).
func (r *answerRelay) ending(boundary bool) bool {
	s := r.stream
	return boundary && s != nil && s.asked.Load() && (!r.ans.events || s.betweenEvents())
}

// end ends a streamed answer here, its last chunk written, and returns
// errStreamEnded.
func (r *answerRelay) end() error {
	if r.ans.framing == bodyChunked {
		r.bw.WriteString("0\r\n\r\n")
	}
	if err := r.bw.Flush(); err != nil {
		return err
	}
	return errStreamEnded
}

// streams says whether an answer is long-lived for a drain: one whose
// body has no announced length.
func streams(a *workerAnswer) bool {
	return a.framing == bodyChunked || a.framing == bodyUntilClose
}

// streamOn counts the answer now streaming from worker on b as
// long-lived, for a drain to end.
func (c *serverConn) streamOn(b *Backend, worker net.Conn) {
	c.stream = streamEnd{worker: worker}
	c.rel.stream = &c.stream
	b.track(c, c.endStream)
}

// streamOff ends the count; asked says whether a drain asked the answer
// to end (the worker connection then has a deadline in the past and is
// not reused).
func (c *serverConn) streamOff(b *Backend) (asked bool) {
	b.untrack(c)
	c.rel.stream = nil
	return c.stream.asked.Load()
}

// endStream is a drain's end for a streamed answer: it wakes the relay's
// read of the worker, which ends the answer at its next boundary. It runs
// with the Backend's lock held, so only while the answer is counted.
func (c *serverConn) endStream() {
	c.stream.asked.Store(true)
	c.stream.worker.SetReadDeadline(aLongTimeAgo)
}
