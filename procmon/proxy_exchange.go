package procmon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// exchange sends the request in c.out to backend b and passes the answer
// on to the client. keep says whether the client's connection stays open;
// wrote, whether any of the answer reached the client (the request can
// then no longer be answered with an error, nor sent elsewhere). A pooled
// connection the worker closed while it sat idle fails before any answer;
// the request is then sent once more on a new connection, as
// http.Transport does.
func (c *serverConn) exchange(b *backend) (keep, wrote bool, err error) {
	pool := &b.transport.fast
	fc, err := pool.get(context.Background())
	if err != nil {
		return false, false, err
	}
	for {
		var reuse bool
		keep, wrote, reuse, err = c.exchangeOn(fc)
		if err == nil {
			if reuse {
				pool.put(fc)
			} else {
				fc.nc.Close()
			}
			return keep, wrote, nil
		}
		fc.nc.Close()
		if wrote || !fc.reused || !errors.Is(err, errNothingRead) || c.clientGone.Load() {
			return false, wrote, err
		}
		if fc, err = pool.dial(context.Background()); err != nil {
			return false, false, err
		}
	}
}

// exchangeOn does one exchange on fc; reuse says whether fc can carry
// another request.
func (c *serverConn) exchangeOn(fc *fastConn) (keep, wrote, reuse bool, err error) {
	if !c.useWorker(fc.nc) {
		return false, false, false, errServerClosed
	}
	defer c.useWorker(nil)
	if _, err := fc.nc.Write(c.out); err != nil {
		return false, false, false, nothingReadError{err}
	}
	c.armWatch(fc.nc)
	if _, err := fc.br.Peek(1); err != nil {
		c.disarmWatch()
		return false, false, false, nothingReadError{err}
	}
	for {
		if err = c.readAnswer(fc.br); err != nil || c.ans.code >= 200 {
			break
		}
		if c.ans.code == 101 {
			err = fmt.Errorf("%w: 101 Switching Protocols to a request without an upgrade", errBadAnswer)
			break
		}
		// 1xx (103 Early Hints): pass it on and read the real answer.
		c.writeAnswerHead(false)
		if err = c.bw.Flush(); err != nil {
			break
		}
		wrote = true
	}
	if err != nil {
		c.disarmWatch()
		return false, wrote, false, err
	}
	// The watch stays on while the body streams: a client that leaves an
	// event stream ends the worker's request there too.
	keep = !c.req.close && c.ans.framing != bodyUntilClose && !c.s.closing.Load()
	c.writeAnswerHead(!keep)
	err = c.copyBody(fc.br)
	if err == nil {
		err = c.bw.Flush()
	}
	c.disarmWatch()
	if err != nil {
		return false, true, false, err
	}
	return keep, true, c.ans.reuse && !c.clientGone.Load(), nil
}

// errServerClosed: the proxy's Close came first.
var errServerClosed = errors.New("proxy closed")

// useWorker records the worker connection this client's request is on,
// for Close to cut; it returns false once Close has run.
func (c *serverConn) useWorker(nc net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.worker = nc
	return !c.closed
}

// abort cuts the worker connection in use and refuses the next one: the
// server is closing now.
func (c *serverConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.worker != nil {
		c.worker.SetDeadline(aLongTimeAgo)
	}
}

// maxAnswerHead bounds an answer head, as net/http's client does (1 MB).
const maxAnswerHead = 1 << 20

// readAnswer reads an answer head into c.ansHead and parses it into c.ans.
func (c *serverConn) readAnswer(br *bufio.Reader) error {
	c.ansHead = c.ansHead[:0]
	lineStart := 0
	for {
		part, err := br.ReadSlice('\n')
		c.ansHead = append(c.ansHead, part...)
		if len(c.ansHead) > maxAnswerHead {
			return fmt.Errorf("%w: head longer than %d bytes", errBadAnswer, maxAnswerHead)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line: read on
		}
		if err != nil {
			return fmt.Errorf("read the worker's answer: %w", err)
		}
		if n := len(c.ansHead); n-lineStart < 2 || c.ansHead[n-2] != '\r' {
			// HTTP/1.1 ends lines with CRLF; waiting for one would hang.
			return fmt.Errorf("%w: a line of its head ends in a bare LF (hint: the worker must end header lines with CRLF)", errBadAnswer)
		}
		if len(c.ansHead)-lineStart == 2 {
			return parseWorkerAnswer(c.ansHead, c.req.isHead, &c.ans)
		}
		lineStart = len(c.ansHead)
	}
}

// writeAnswerHead writes the answer's head to the client as HTTP/1.1,
// without hop-by-hop headers, adding Connection: close when closing and
// a Date when the worker sent none.
func (c *serverConn) writeAnswerHead(closing bool) {
	h := c.ansHead
	c.bw.WriteString("HTTP/1.1 ")
	c.bw.Write(c.ans.status.of(h))
	c.bw.Write(crlf)
	for _, l := range c.ans.forward {
		c.bw.Write(l.of(h))
	}
	if !c.ans.hasDate && c.ans.code >= 200 {
		// A proxy adds the Date an origin server left out (RFC 9110
		// section 6.6.1), as net/http's server did on the other path.
		c.bw.WriteString("Date: ")
		c.bw.Write(time.Now().UTC().AppendFormat(c.date[:0], http.TimeFormat))
		c.bw.Write(crlf)
	}
	if closing {
		c.bw.WriteString("Connection: close\r\n")
	}
	c.bw.Write(crlf)
}

// copyBody passes the answer's body on as framed.
func (c *serverConn) copyBody(src *bufio.Reader) error {
	switch c.ans.framing {
	case bodyLength:
		return c.copyN(src, c.ans.length)
	case bodyChunked:
		return c.copyChunked(src)
	case bodyUntilClose:
		for {
			if err := c.copyN(src, 1<<62); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// copyN copies n bytes of src to the client. Whenever src has nothing
// more buffered, what was copied is flushed first, so that a streamed
// answer reaches the client part by part.
func (c *serverConn) copyN(src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 && c.bw.Buffered() > 0 {
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
		if _, err := src.Peek(1); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		k := int(min(int64(src.Buffered()), n))
		b, _ := src.Peek(k)
		if _, err := c.bw.Write(b); err != nil {
			return err
		}
		src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// copyChunked passes a chunked body on unchanged, reading its framing to
// find its end: chunks, the last chunk, trailers and the final CRLF.
func (c *serverConn) copyChunked(src *bufio.Reader) error {
	for {
		line, err := c.copyLine(src)
		if err != nil {
			return err
		}
		size, err := chunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := c.copyN(src, size); err != nil {
			return err
		}
		if end, err := c.copyLine(src); err != nil || len(end) != 2 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errBadAnswer)
		}
	}
	for { // trailers, then the empty line
		line, err := c.copyLine(src)
		if err != nil {
			return err
		}
		if len(line) == 2 {
			return nil
		}
	}
}

// copyLine copies one CRLF-ended line (at most the reader's buffer) to
// the client and returns it.
func (c *serverConn) copyLine(src *bufio.Reader) ([]byte, error) {
	if src.Buffered() == 0 && c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			return nil, err
		}
	}
	line, err := src.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("read the worker's chunked answer: %w", err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: chunk line without CRLF", errBadAnswer)
	}
	_, err = c.bw.Write(line)
	return line, err
}

// chunkSize reads a chunk-size line: hex digits, then extensions.
func chunkSize(line []byte) (int64, error) {
	hex := bytes.TrimRight(line[:len(line)-2], " \t")
	if i := bytes.IndexByte(hex, ';'); i >= 0 {
		hex = bytes.TrimRight(hex[:i], " \t")
	}
	if len(hex) == 0 || len(hex) > 15 {
		return 0, fmt.Errorf("%w: chunk size %q", errBadAnswer, hex)
	}
	var n int64
	for _, c := range hex {
		d, ok := hexDigit(c)
		if !ok {
			return 0, fmt.Errorf("%w: chunk size %q", errBadAnswer, hex)
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// armWatch starts the client watch's timer for a request now waiting for
// its worker. A client that already sent more (pipelining, or a byte an
// earlier watch kept) is not watched: it is there, and its bytes must
// stay unread.
func (c *serverConn) armWatch(worker net.Conn) {
	if c.br.Buffered() > 0 || c.src.has {
		return
	}
	c.nc.SetReadDeadline(time.Time{})
	c.watched, c.watchArmed = worker, true
	c.watch.Reset(c.s.watchAfter)
}

// disarmWatch stops the watch; one already reading is woken and waited for.
func (c *serverConn) disarmWatch() {
	if !c.watchArmed {
		return
	}
	c.watchArmed = false
	if c.watch.Stop() {
		return
	}
	c.nc.SetReadDeadline(aLongTimeAgo)
	<-c.watchDone
}

// watchClient runs on the watch's timer: it reads the client connection.
// A byte read is the client's next request (kept for the loop); an error
// other than the wake-up deadline means the client left, and the worker
// connection is cut, which ends the worker's request.
func (c *serverConn) watchClient() {
	defer func() { c.watchDone <- struct{}{} }()
	var b [1]byte
	n, err := c.nc.Read(b[:])
	if n == 1 {
		c.src.b, c.src.has = b[0], true
		return
	}
	if ne, ok := err.(net.Error); err != nil && !(ok && ne.Timeout()) {
		c.clientGone.Store(true)
		c.watched.SetDeadline(aLongTimeAgo)
	}
}
