package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// The timeouts between bytes (nginx client_body_timeout, send_timeout):
// each read of a request body and each write of an answer gets a fresh
// deadline, so that a client that stalls is dropped, however long a
// healthy transfer takes.

// errReadTimeout: a worker sent nothing for read_timeout (nginx
// proxy_read_timeout), before its answer's head (answered 504) or in the
// middle of its body (the client's connection is closed).
var errReadTimeout = errors.New("the worker sent nothing")

// readTimeout is errReadTimeout with the bound d that ran out, as both
// paths report it.
func readTimeout(d time.Duration) error {
	return fmt.Errorf("%w for %s (read_timeout)", errReadTimeout, d)
}

// armWorkerRead bounds the next read of the worker connection nc by
// read_timeout, or lifts the bound for an exempt read (an event stream's).
// A wake-up already asked for (the client left, the proxy closes, a drain
// ends the stream) is not overridden: each sets its flag before its
// deadline, so one that came before this deadline is seen by woken after it.
func (c *serverConn) armWorkerRead(nc net.Conn, exempt bool) {
	var d time.Time
	if !exempt {
		d = time.Now().Add(c.s.cfg.ReadTimeout)
	}
	nc.SetReadDeadline(d)
	if c.woken() {
		nc.SetReadDeadline(aLongTimeAgo)
	}
}

// woken says whether the worker connection's deadline was moved on
// purpose, to wake its read: the client left, the proxy is closing, or a
// drain ends the answer streaming.
func (c *serverConn) woken() bool {
	if c.watch.gone.Load() || c.rel.stream != nil && c.rel.stream.asked.Load() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// readFailed says what a failed read of the worker means: one that ran
// into armWorkerRead's deadline, with no wake-up asked, is the worker's
// silence (errReadTimeout).
func (c *serverConn) readFailed(err error) error {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() && !c.woken() {
		return readTimeout(c.s.cfg.ReadTimeout)
	}
	return err
}

// sendConn is a client connection whose every write must progress
// within d.
type sendConn struct {
	net.Conn
	d time.Duration
}

func (c *sendConn) Write(p []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}

// bodyReader reads a handed-over request's body, each read within d.
type bodyReader struct {
	r      io.Reader
	rc     *http.ResponseController
	d      time.Duration
	failed atomic.Int32 // the status a failed read calls for (bodyFailure); 0 while none failed
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.failed.Store(int32(bodyFailure(err)))
	}
	return n, err
}

// bodyFailure is the status to answer for a request body that could not
// be read: 408 for a client that stalled past body_timeout, 400 for a
// malformed body (bad chunked framing, a short body).
func bodyFailure(err error) int {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// sendWriter is a handed-over request's ResponseWriter whose every write
// and flush must progress within d.
type sendWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	d    time.Duration
	body *bodyReader // the request's body as it streams to the worker; nil without one
}

func (w *sendWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

func (w *sendWriter) FlushError() error {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.rc.Flush()
}

func (w *sendWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferBody reads a request's body before any worker is picked, up to
// limit bytes: a body that fits is passed on from memory with its
// Content-Length (a chunked one de-chunked), so that a client that
// stalls mid-body never holds a worker (nginx buffers bodies the same
// way). A larger body streams after what was read: a failure of the rest
// cuts the worker's request at once, and is answered as below by
// handler.serveError unless the answer had begun (then the connection is
// closed). It returns the status
// to answer instead when the body cannot be read: 408 for a client that
// stalled past body_timeout, 400 for a malformed body (bad chunked
// framing, a short body).
func bufferBody(r *http.Request, body *bodyReader, limit int64) int {
	if r.ContentLength > limit {
		r.Body = readCloser{body, r.Body}
		return 0
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, limit+1))
	if err != nil {
		return bodyFailure(err)
	}
	if n > limit {
		r.Body = readCloser{io.MultiReader(&buf, body), r.Body}
		return 0
	}
	r.Body, r.ContentLength, r.TransferEncoding = http.NoBody, 0, nil
	if n > 0 {
		r.Body, r.ContentLength = io.NopCloser(&buf), n
	}
	return 0
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
