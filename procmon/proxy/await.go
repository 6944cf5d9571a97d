package proxy

import (
	"bufio"
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A keep-alive connection between two requests: it holds no buffer
// while it waits, and takes one from the pool only once the client's
// socket has bytes to read, which it then reads straight into it, as
// nginx does. A wait therefore costs the same reads as with a buffer
// held: one that finds nothing, and one that reads the request. (An
// earlier version waited with a 1-byte read, then read the rest: one
// read more per request, about a fifth of the proxy's CPU per request
// for a worker that answers in 1 ms.)

// await waits for the next request's first bytes, for at most wait. An
// idle connection holds no buffer meanwhile: they go back to their
// pools, so that thousands of idle keep-alive connections cost little
// more than their goroutines; one that may park and stays idle longer
// than parkAfter is parked, and await returns errParked: then c is no
// longer this goroutine's.
func (c *serverConn) await(wait time.Duration, mayPark bool) error {
	if c.src.has || c.br != nil && c.br.Buffered() > 0 {
		return nil // pipelined: the next request is here
	}
	c.releaseReader()
	c.releaseWriter()
	err := c.readFirst(time.Now().Add(wait), mayPark)
	if err == errParked {
		return err
	}
	if c.br == nil {
		c.br = connReaders.Get().(*bufio.Reader)
		c.br.Reset(&c.src)
	}
	c.bw = connWriters.Get().(*bufio.Writer)
	c.bw.Reset(&c.sent)
	c.rel.bw = c.bw
	return err
}

// readFirst reads the next request's first bytes by deadline, or parks
// the connection (errParked) if mayPark and it is still idle after
// parkAfter.
func (c *serverConn) readFirst(deadline time.Time, mayPark bool) error {
	if mayPark && time.Until(deadline) > 2*parkAfter {
		c.nc.SetReadDeadline(time.Now().Add(parkAfter))
		err := c.fill()
		if err == nil || !isDeadline(err) {
			return err
		}
		if c.s.park.park(c, deadline) {
			return errParked
		}
	}
	c.nc.SetReadDeadline(deadline)
	return c.fill()
}

// fill waits until the client sends something and reads it into c.br,
// taken from its pool then, within the read deadline. Without a socket
// (tests) it reads one byte into c.src.
func (c *serverConn) fill() error {
	if c.raw == nil {
		var b [1]byte
		_, err := io.ReadFull(c.nc, b[:])
		if err == nil {
			c.src.b, c.src.has = b[0], true
		}
		return err
	}
	c.fillErr = nil
	if err := c.raw.Read(c.fillFn); err != nil {
		return err // the deadline, or the connection closed
	}
	return c.fillErr
}

// fillFrom is fill's read of the socket fd, which the runtime's poller
// calls again once fd is readable for as long as it returns false.
func (c *serverConn) fillFrom(fd uintptr) bool {
	c.br = connReaders.Get().(*bufio.Reader)
	c.br.Reset(&c.src)
	c.src.fd, c.src.direct = int(fd), true
	_, c.fillErr = c.br.Peek(1)
	c.src.direct = false
	if c.fillErr == errWouldBlock {
		c.releaseReader() // nothing yet: wait without it
		return false
	}
	return true
}

// errWouldBlock: a direct read found nothing to read.
var errWouldBlock = errors.New("read would block")

// readFD is one non-blocking read of fd, as the poller's own reads are.
func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *serverConn) releaseReader() {
	if c.br != nil {
		c.br.Reset(nil)
		connReaders.Put(c.br)
		c.br = nil
	}
}

func (c *serverConn) releaseWriter() {
	if c.bw != nil {
		c.bw.Reset(nil)
		connWriters.Put(c.bw)
		c.bw, c.rel.bw = nil, nil
	}
}
