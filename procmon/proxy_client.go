package procmon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// workerTransport sends the proxy's requests to one worker. Plain requests
// without a body and without an upgrade (GET, HEAD: nearly all traffic) go
// through fastConns, a minimal HTTP/1.1 client that writes the request and
// reads the answer on the handler's own goroutine; everything else
// (request bodies, WebSocket and other upgrades) goes through a standard
// http.Transport, whose semantics for those are well proven.
//
// Why: http.Transport runs a read and a write goroutine per connection and
// hands every request and answer between them and the handler over
// channels. Through a proxy on a busy machine those hand-offs (scheduler
// wake-ups, locks, select) cost about as much as the rest of the request.
type workerTransport struct {
	std  *http.Transport
	fast fastConns
}

func newWorkerTransport(addr string) *workerTransport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &workerTransport{
		std: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
		},
		fast: fastConns{addr: addr, dialer: dialer, maxIdle: 1024, idleTimeout: 60 * time.Second},
	}
}

// RoundTrip sends req to the worker; the caller has set req.URL.Host.
func (t *workerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !fastEligible(req) {
		return t.std.RoundTrip(req)
	}
	return t.fast.roundTrip(req)
}

// CloseIdleConnections closes the idle connections to the worker (it has
// exited); connections still in use are closed when their request ends.
func (t *workerTransport) CloseIdleConnections() {
	t.std.CloseIdleConnections()
	t.fast.closeIdle()
}

// fastEligible: no body (so a failed attempt can be replayed), an
// idempotent method, and no upgrade.
func fastEligible(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	_, upgrade := req.Header["Upgrade"]
	return !upgrade
}

// fastConns is a pool of keep-alive HTTP/1.1 connections to one worker.
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

// roundTrip sends a replayable request. A pooled connection the worker
// closed while it sat idle fails before any answer arrives; the request
// is then sent once more on a new connection, as http.Transport does.
func (p *fastConns) roundTrip(req *http.Request) (*http.Response, error) {
	for {
		c, err := p.get(req.Context())
		if err != nil {
			return nil, err
		}
		nc := c.nc
		stop := context.AfterFunc(req.Context(), func() { nc.SetDeadline(aLongTimeAgo) })
		resp, err := c.exchange(req)
		if err == nil {
			return p.wrap(req, resp, c, stop), nil
		}
		stop()
		c.nc.Close()
		if !c.reused || !errors.Is(err, errNothingRead) {
			return nil, err
		}
	}
}

// errNothingRead marks a connection that broke before any byte of an
// answer came back: on a reused connection the request can be resent.
var errNothingRead = errors.New("connection closed before an answer")

type nothingReadError struct{ err error }

func (e nothingReadError) Error() string        { return "worker connection: " + e.err.Error() }
func (e nothingReadError) Is(target error) bool { return target == errNothingRead }
func (e nothingReadError) Unwrap() error        { return e.err }

// exchange writes req and reads the answer's header, passing 1xx
// informational answers (103 Early Hints) to the request's client trace,
// which is how httputil.ReverseProxy forwards them.
func (c *fastConn) exchange(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	unanswered := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err() // the client left: no point in resending
		}
		return nothingReadError{err}
	}
	if err := req.Write(c.bw); err != nil {
		return nil, unanswered(err)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, unanswered(err)
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, unanswered(err)
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("read the worker's answer: %w", err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// wrap gives the answer a body that returns the connection to the pool
// once read to the end, or closes it if the request gives up early. Until
// then, the client going away aborts the exchange (stop ends that watch).
func (p *fastConns) wrap(req *http.Request, resp *http.Response, c *fastConn, stop func() bool) *http.Response {
	b := &fastBody{rc: resp.Body, c: c, p: p, stop: stop, reuse: !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	resp.Body = b
	return resp
}

// fastBody is an answer's body on a fastConn.
type fastBody struct {
	rc    io.ReadCloser
	c     *fastConn
	p     *fastConns
	stop  func() bool
	reuse bool
	eof   bool
	done  atomic.Bool
}

func (b *fastBody) Read(buf []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.rc.Read(buf)
	if err == io.EOF {
		b.eof = true
		b.release()
	}
	return n, err
}

func (b *fastBody) Close() error {
	if !b.eof && b.rc == http.NoBody {
		b.eof = true
	}
	b.release()
	return nil
}

// release hands the connection back (answer read to the end, nothing
// cancelled) or closes it, exactly once.
func (b *fastBody) release() {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	notCancelled := b.stop()
	if b.eof && b.reuse && notCancelled {
		b.p.put(b.c)
		return
	}
	b.c.nc.Close()
}
