package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// serverConn is one client connection on the proxy's fast path: it reads
// a plain request head, writes it to a worker over a pooled connection,
// and passes the worker's answer back, all on one goroutine.
type serverConn struct {
	s    *Server
	nc   net.Conn
	src  clientReader
	br   *bufio.Reader // reads src
	bw   *bufio.Writer // writes sent
	sent sendConn      // nc, each write within send_timeout
	ip   string        // the client's address, for X-Forwarded-For
	lim  headLimits    // the screen's settings for this client

	idle bool // waiting for a request; guarded by s.mu

	mu     sync.Mutex
	worker net.Conn // the worker connection in use, for Close to cut
	closed bool     // Close ran: no more worker exchanges

	head  []byte // the request head as read, then as screened
	spare []byte // the other buffer for the screen
	out   []byte // the head sent to the worker
	req   plainRequest
	rel   answerRelay
	watch clientWatch
}

// The connections' buffers are recycled: a Connection: close client would
// otherwise allocate 8 KB per request.
var (
	connReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	connWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func newServerConn(s *Server, nc net.Conn) *serverConn {
	c := &serverConn{s: s, nc: nc}
	c.src.nc = nc
	c.br = connReaders.Get().(*bufio.Reader)
	c.br.Reset(&c.src)
	c.bw = connWriters.Get().(*bufio.Writer)
	c.sent = sendConn{Conn: nc, d: s.cfg.SendTimeout}
	c.bw.Reset(&c.sent)
	if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.ip = host
		ip, err := netip.ParseAddr(host)
		c.lim.trusted = err == nil && s.cfg.trusts(ip)
	}
	c.lim.refuseUnderscores = s.cfg.RefuseUnderscores
	c.rel.bw = c.bw
	c.watch.init(nc, &c.src)
	return c
}

// serve runs the connection's request loop until the client or the
// server ends it, or a request goes to net/http.
func (c *serverConn) serve() {
	handOver := false
	defer func() {
		c.releaseWriter()
		if handOver {
			c.s.handOver(c, c.head)
			c.s.untrack(c)
			return
		}
		c.s.untrack(c)
		c.nc.Close()
		c.releaseReader()
	}()
	wait := c.s.headerTimeout // a new connection sends its first request at once
	for {
		if !c.s.setIdle(c, true) {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(wait))
		wait = c.s.idleTimeout
		if err := c.await(); err != nil || !c.s.setIdle(c, false) {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.headerTimeout))
		plain, v, err := c.readHead()
		if err != nil {
			return
		}
		if !plain {
			if v.code == 0 {
				v = screenRequest(c.head, c.spare, c.lim)
			}
			if v.code != 0 {
				c.refuse(v)
				return
			}
			c.head, c.spare = v.head, c.head
			if v.upgrade {
				c.upgrade(v)
				return
			}
			if !parsePlainRequest(c.head, &c.req) {
				handOver = true
				return
			}
		}
		if !c.forward() {
			return
		}
		c.shrink()
	}
}

// await waits for the next request's first byte. An idle connection
// holds no buffer meanwhile: they go back to their pools, and the byte is
// read into c.src, so that thousands of idle keep-alive connections cost
// little more than their goroutines.
func (c *serverConn) await() error {
	if c.br.Buffered() > 0 || c.src.has {
		return nil // pipelined: the next request is here
	}
	c.releaseReader()
	c.releaseWriter()
	var b [1]byte
	_, err := io.ReadFull(c.nc, b[:])
	c.br = connReaders.Get().(*bufio.Reader)
	c.br.Reset(&c.src)
	c.bw = connWriters.Get().(*bufio.Writer)
	c.bw.Reset(&c.sent)
	c.rel.bw = c.bw
	if err != nil {
		return err
	}
	c.src.b, c.src.has = b[0], true
	return nil
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

// shrink lets go of head buffers a large request grew, so that an idle
// connection holds little memory.
func (c *serverConn) shrink() {
	if cap(c.head) > 4<<10 {
		c.head = nil
	}
	if cap(c.spare) > 4<<10 {
		c.spare = nil
	}
	if cap(c.out) > 4<<10 {
		c.out = nil
	}
}

// refuse answers a request the screen refused, and closes: nginx's
// answer to the same requests. What the client sent after it is read
// for a moment (lingering close), so that the answer is not lost to a
// reset.
func (c *serverConn) refuse(v screened) {
	c.s.log.Debug("proxy: request refused", "client", c.ip, "code", v.code, "why", v.why)
	c.bw.WriteString("HTTP/1.1 ")
	c.bw.WriteString(statusLine(v.code))
	c.bw.WriteString("\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	if c.bw.Flush() != nil {
		return
	}
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(time.Second))
		io.CopyN(io.Discard, c.nc, 64<<10)
	}
}

// readHead reads a request head into c.head; plain says whether the fast
// path serves it as it is. A head over max_head, or with a line that ends
// in a bare LF, is refused (v). Empty lines before the request line are
// skipped (RFC 9112 section 2.2).
func (c *serverConn) readHead() (plain bool, v screened, err error) {
	c.head = c.head[:0]
	lineStart := 0
	for {
		part, err := c.br.ReadSlice('\n')
		c.head = append(c.head, part...)
		if len(c.head) > c.s.maxHead {
			return false, refuse(http.StatusRequestHeaderFieldsTooLarge, "request head over max_head"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line: read on
		}
		if err != nil {
			return false, screened{}, err
		}
		n := len(c.head)
		if n-lineStart < 2 || c.head[n-2] != '\r' {
			return false, refuse(http.StatusBadRequest, "a line of the head ends in a bare LF"), nil
		}
		switch {
		case n-lineStart > 2:
			lineStart = n
		case lineStart == 0:
			c.head = c.head[:0]
		default:
			return parsePlainRequest(c.head, &c.req), screened{}, nil
		}
	}
}

// forward sends the request to a worker and its answer to the client; it
// returns whether the connection stays open for another request. A
// worker that cannot be connected to is skipped for another one.
func (c *serverConn) forward() bool {
	c.buildRequest()
	var skipped [4]*Backend
	skip := skipped[:0]
	for {
		b := c.s.p.pick(skip)
		if b == nil {
			return c.answerError(http.StatusServiceUnavailable, errNoWorker)
		}
		keep, wrote, err := c.exchange(b)
		b.inflight.Add(-1)
		switch {
		case err == nil:
			return keep
		case wrote || c.watch.gone.Load():
			return false
		case isDialError(err) && len(skip) < cap(skipped):
			skip = append(skip, b)
			continue
		}
		return c.answerError(http.StatusBadGateway, err)
	}
}

// buildRequest writes the head sent to the worker into c.out: the request
// as read, with X-Forwarded-For (the client appended to what a front proxy
// set), X-Forwarded-Host and X-Forwarded-Proto (kept, else http), as
// httputil.ReverseProxy's SetXForwarded does on the other path.
func (c *serverConn) buildRequest() {
	h, r := c.head, &c.req
	out := append(c.out[:0], r.line.of(h)...)
	out = append(out, crlf...)
	for _, l := range r.forward {
		out = append(out, l.of(h)...)
	}
	if c.ip != "" {
		out = append(out, "X-Forwarded-For: "...)
		for _, v := range r.xff {
			if c.lim.trusted {
				out = append(append(out, v.of(h)...), ", "...)
			}
		}
		out = append(append(out, c.ip...), crlf...)
	}
	out = append(append(append(out, "X-Forwarded-Host: "...), r.host.of(h)...), crlf...)
	out = append(out, "X-Forwarded-Proto: "...)
	if c.lim.trusted && r.proto.end > r.proto.start {
		out = append(out, r.proto.of(h)...)
	} else {
		out = append(out, "http"...)
	}
	c.out = append(out, "\r\n\r\n"...)
}

// answerError answers with code and no body, and logs why.
func (c *serverConn) answerError(code int, err error) bool {
	c.s.log.Warn("proxy: request failed", "request", string(c.req.line.of(c.head)), "err", err)
	keep := !c.req.close && !c.s.closing.Load()
	c.bw.WriteString("HTTP/1.1 ")
	c.bw.WriteString(statusLine(code))
	c.bw.WriteString("\r\nContent-Length: 0\r\n")
	if !keep {
		c.bw.WriteString("Connection: close\r\n")
	}
	c.bw.WriteString("\r\n")
	return c.bw.Flush() == nil && keep
}

func statusLine(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// exchange sends the request in c.out to backend b and passes the answer
// on to the client. keep says whether the client's connection stays open;
// wrote, whether any of the answer reached the client (the request can
// then no longer be answered with an error, nor sent elsewhere). A pooled
// connection the worker closed while it sat idle fails before any answer;
// the request is then sent once more on a new connection, as
// http.Transport does.
func (c *serverConn) exchange(b *Backend) (keep, wrote bool, err error) {
	pool := &b.conns
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
		if wrote || !fc.reused || !errors.Is(err, errNothingRead) || c.watch.gone.Load() {
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
	c.watch.arm(fc.nc, c.s.watchAfter, c.br.Buffered() > 0)
	if _, err := fc.br.Peek(1); err != nil {
		c.watch.disarm()
		return false, false, false, nothingReadError{err}
	}
	for {
		if err = c.rel.read(fc.br, c.req.isHead); err != nil || c.rel.ans.code >= 200 {
			break
		}
		if c.rel.ans.code == 101 {
			err = fmt.Errorf("%w: 101 Switching Protocols to a request without an upgrade", errBadAnswer)
			break
		}
		// 1xx (103 Early Hints): pass it on and read the real answer.
		c.rel.writeHead(false)
		if err = c.bw.Flush(); err != nil {
			break
		}
		wrote = true
	}
	if err != nil {
		c.watch.disarm()
		return false, wrote, false, err
	}
	// The watch stays on while the body streams: a client that leaves an
	// event stream ends the worker's request there too.
	keep = !c.req.close && c.rel.ans.framing != bodyUntilClose && !c.s.closing.Load()
	c.rel.writeHead(!keep)
	err = c.rel.copyBody(fc.br)
	if err == nil {
		err = c.bw.Flush()
	}
	c.watch.disarm()
	if err != nil {
		return false, true, false, err
	}
	return keep, true, c.rel.ans.reuse && !c.watch.gone.Load(), nil
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

// cut ends the connection's exchange with its worker now, and the
// connection with it: a drain's end for an upgraded connection.
func (c *serverConn) cut() {
	c.abort()
	c.nc.SetDeadline(aLongTimeAgo)
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
