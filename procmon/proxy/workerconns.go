package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fastConns is the fast path's pool of keep-alive HTTP/1.1 connections
// to one worker (exchange.go writes requests on them and reads answers).
// fastConn, its element, lives here with it.
type fastConns struct {
	addr        string
	dialer      *net.Dialer
	maxIdle     int
	idleTimeout time.Duration // an idle connection older than this is closed

	mu     sync.Mutex
	idle   []*fastConn
	closed bool // the worker is gone: no more pooling
}

// fastConn is one connection; it is owned by exactly one request at a time.
type fastConn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	reused bool
	idleAt time.Time

	raw     syscall.RawConn // for quiet's peek
	peek    func(fd uintptr)
	isQuiet bool
}

// aLongTimeAgo is a deadline in the past: it wakes up blocked I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// get takes the most recently used idle connection that is still clean,
// or dials a new one.
func (p *fastConns) get(ctx context.Context) (*fastConn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return p.dial(ctx)
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if c.quiet() {
			c.reused = true
			return c, nil
		}
		c.nc.Close()
	}
}

// quiet says whether an idle connection has nothing to read. Bytes that
// arrived while it sat idle (a worker that sent a body with a HEAD or 204
// answer, or more than its Content-Length) would be taken for the next
// request's answer, which hands one client another's answer; end of file
// means the worker closed it. Either way it must not be used. One
// non-blocking peek, as http.Transport's read loop would notice.
func (c *fastConn) quiet() bool {
	if c.raw == nil {
		return true // not a socket (tests)
	}
	c.isQuiet = false
	return c.raw.Control(c.peek) == nil && c.isQuiet
}

// peekIdle is quiet's look at the socket; it is made once per connection
// (as c.peek) so that the check allocates nothing.
func (c *fastConn) peekIdle(fd uintptr) {
	var b [1]byte
	_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	c.isQuiet = errors.Is(err, unix.EAGAIN)
}

func (p *fastConns) dial(ctx context.Context) (*fastConn, error) {
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	// The writer only ever holds a request's head: 2 KB fits most, and a
	// longer one is written in more than one piece.
	c := &fastConn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 2<<10)}
	if sc, ok := nc.(syscall.Conn); ok {
		if c.raw, err = sc.SyscallConn(); err != nil {
			nc.Close()
			return nil, err
		}
		c.peek = c.peekIdle
	}
	return c, nil
}

// put returns a connection whose answer was read completely. The idle
// list is a stack (the most recently used connection goes out first), so
// the connections left over from a burst sink to its bottom, where put
// closes them once they have been idle for idleTimeout.
func (p *fastConns) put(c *fastConn) {
	now := time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle || c.br != nil && c.br.Buffered() > 0 {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	c.idleAt = now
	p.idle = append(p.idle, c)
	var stale []*fastConn
	for len(p.idle) > 1 && now.Sub(p.idle[0].idleAt) > p.idleTimeout {
		stale = append(stale, p.idle[0])
		p.idle[0] = nil
		p.idle = p.idle[1:]
	}
	p.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
}

func (p *fastConns) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
}

// errNothingRead marks a connection that broke before any byte of an
// answer came back: on a reused connection the request can be resent.
var errNothingRead = errors.New("connection closed before an answer")

type nothingReadError struct{ err error }

func (e nothingReadError) Error() string        { return "worker connection: " + e.err.Error() }
func (e nothingReadError) Is(target error) bool { return target == errNothingRead }
func (e nothingReadError) Unwrap() error        { return e.err }
