package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
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

	head   []byte // the request head as read, then as screened
	spare  []byte // the other buffer for the screen
	out    []byte // the head sent to the worker
	req    plainRequest
	rel    answerRelay
	watch  clientWatch
	stream streamEnd // the drain state of a streamed answer (stream.go)
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
// path serves it as it is. A head over max_head, with a line that ends
// in a bare LF, or whose request line has no HTTP version (an HTTP/0.9
// request, which has no header lines to wait for), is refused (v). Empty
// lines before the request line are skipped (RFC 9112 section 2.2).
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
		case n-lineStart > 2 && lineStart == 0 && !hasVersion(c.head[:n-2]):
			return false, refuse(http.StatusBadRequest, "a request line without an HTTP version (HTTP/0.9)"), nil
		case n-lineStart > 2:
			lineStart = n
		case lineStart == 0:
			c.head = c.head[:0]
		default:
			return parsePlainRequest(c.head, &c.req), screened{}, nil
		}
	}
}

// hasVersion says whether a request line ends in " HTTP/…", as no HTTP/0.9
// request line does.
func hasVersion(line []byte) bool {
	sp := bytes.LastIndexByte(line, ' ')
	return sp >= 0 && bytes.HasPrefix(line[sp+1:], []byte("HTTP/"))
}
