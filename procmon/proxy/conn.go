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
	"syscall"
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

	parkKey   uint64      // its key in the parker's set, while parked; guarded by the parker's lock
	parkTimer *time.Timer // closes it at idle_timeout while parked

	raw     syscall.RawConn       // nc's, for fill; nil when nc is no socket (tests)
	fillFn  func(fd uintptr) bool // c.fillFrom, made once so that a wait allocates nothing
	fillErr error                 // what fillFn's read returned
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
	c.rel.bw, c.rel.owner = c.bw, c
	c.watch.init(nc, &c.src)
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw, c.fillFn = raw, c.fillFrom
		}
	}
	return c
}

// serve runs the connection's request loop until the client or the
// server ends it, a request goes to net/http, or the connection is
// parked (park_linux.go); woken says a parked connection's client sent
// something.
func (c *serverConn) serve(woken bool) {
	handOver, parked := false, false
	defer func() {
		if parked {
			return // another goroutine may serve c already
		}
		c.releaseWriter()
		if handOver {
			c.s.handOver(c, c.head)
			c.s.untrack(c)
			return
		}
		c.s.untrack(c)
		c.nc.Close()
		c.releaseReader()
		c.shrink()
	}()
	wait, mayPark := c.s.headerTimeout, false // a new connection sends its first request at once
	if woken {
		wait = c.s.idleTimeout
	}
	for {
		if !c.s.setIdle(c, true) {
			return
		}
		err := c.await(wait, mayPark)
		if parked = err == errParked; err != nil || !c.s.setIdle(c, false) {
			return
		}
		wait, mayPark = c.s.idleTimeout, true
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

// shrink lets go of head buffers a large request grew, so that an idle
// connection holds little memory.
func (c *serverConn) shrink() {
	if cap(c.head) > 4<<10 {
		putHeadBuf(c.head)
		c.head = nil
	}
	if cap(c.spare) > 4<<10 {
		putHeadBuf(c.spare)
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
		if len(c.head)+len(part) > c.s.maxHead {
			return false, refuse(http.StatusRequestHeaderFieldsTooLarge, "request head over max_head"), nil
		}
		c.head = appendHead(c.head, part, c.s.maxHead)
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

// headStep is the step in which a request head's buffer grows past 4
// KB: a slow client's large head then sits in at most a step more than
// it needs (and an eighth of it for heads far larger than the default
// max_head), never in more than max_head. append's own growth left up
// to 40 % unused, and the outgrown buffers to the collector: the buffers
// of the first pooledSteps steps are recycled, as a head outgrows one and
// once its request is answered.
const (
	headStep    = 8 << 10
	pooledSteps = 8
)

// headBufs[i] holds buffers of (i+1)*headStep bytes.
var headBufs [pooledSteps]sync.Pool

// appendHead appends part to head, a buffer that never grows beyond
// limit (the caller refused a head longer than that).
func appendHead(head, part []byte, limit int) []byte {
	need := len(head) + len(part)
	if need <= cap(head) || need <= 4<<10 {
		return append(head, part...)
	}
	size := max(min((need+need/8+headStep-1)/headStep*headStep, limit), need)
	grown := headBuf(size)[:len(head)]
	copy(grown, head)
	putHeadBuf(head)
	return append(grown, part...)
}

// headBuf is an empty buffer of size bytes, from its pool when there is one.
func headBuf(size int) []byte {
	if i := size/headStep - 1; size%headStep == 0 && i < pooledSteps {
		if b, ok := headBufs[i].Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, size)
}

// putHeadBuf recycles b, which nothing uses any more, if a pool takes its size.
func putHeadBuf(b []byte) {
	if i := cap(b)/headStep - 1; cap(b)%headStep == 0 && i >= 0 && i < pooledSteps {
		b = b[:0]
		headBufs[i].Put(&b)
	}
}

// hasVersion says whether a request line ends in " HTTP/…", as no HTTP/0.9
// request line does.
func hasVersion(line []byte) bool {
	sp := bytes.LastIndexByte(line, ' ')
	return sp >= 0 && bytes.HasPrefix(line[sp+1:], []byte("HTTP/"))
}
