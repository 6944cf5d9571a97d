package procmon

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// serverConn is one client connection on the proxy's fast path: it reads
// a plain request head, writes it to a worker over a pooled connection,
// and passes the worker's answer back, all on one goroutine.
type serverConn struct {
	s   *proxyServer
	nc  net.Conn
	src clientReader
	br  *bufio.Reader // reads src
	bw  *bufio.Writer // writes nc
	ip  string        // the client's address, for X-Forwarded-For

	idle bool // waiting for a request; guarded by s.mu

	mu     sync.Mutex
	worker net.Conn // the worker connection in use, for Close to cut
	closed bool     // Close ran: no more worker exchanges

	head    []byte // the request head as read
	out     []byte // the head sent to the worker
	req     plainRequest
	ans     workerAnswer
	ansHead []byte
	date    [32]byte // room to format a Date header

	// The client watch: a request the worker has not answered within
	// watchAfter reads the client's connection, so that a client that
	// leaves ends the worker's request (as net/http's background read
	// does, but only for slow requests).
	watch      *time.Timer
	watchArmed bool
	watchDone  chan struct{}
	watched    net.Conn // the worker connection the watch cuts
	clientGone atomic.Bool
}

// clientReader reads the client's connection, after the byte the client
// watch may have read from it.
type clientReader struct {
	nc  net.Conn
	has bool
	b   byte
}

func (r *clientReader) Read(p []byte) (int, error) {
	if r.has && len(p) > 0 {
		p[0], r.has = r.b, false
		return 1, nil
	}
	return r.nc.Read(p)
}

// The connections' buffers are recycled: a Connection: close client would
// otherwise allocate 8 KB per request.
var (
	connReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	connWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func newServerConn(s *proxyServer, nc net.Conn) *serverConn {
	c := &serverConn{s: s, nc: nc, watchDone: make(chan struct{}, 1)}
	c.src.nc = nc
	c.br = connReaders.Get().(*bufio.Reader)
	c.br.Reset(&c.src)
	c.bw = connWriters.Get().(*bufio.Writer)
	c.bw.Reset(nc)
	if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.ip = host
	}
	c.watch = time.AfterFunc(time.Hour, c.watchClient)
	c.watch.Stop()
	return c
}

// maxPlainHead: a longer request head goes to net/http, which allows 1 MB.
const maxPlainHead = 64 << 10

// serve runs the connection's request loop until the client or the
// server ends it, or a request goes to net/http.
func (c *serverConn) serve() {
	handOver := false
	defer func() {
		c.bw.Reset(nil)
		connWriters.Put(c.bw)
		if handOver {
			c.s.handOver(c, c.head)
			c.s.untrack(c)
			return
		}
		c.s.untrack(c)
		c.nc.Close()
		c.br.Reset(nil)
		connReaders.Put(c.br)
	}()
	wait := c.s.headerTimeout // a new connection sends its first request at once
	for {
		if !c.s.setIdle(c, true) {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(wait))
		wait = c.s.idleTimeout
		if _, err := c.br.Peek(1); err != nil || !c.s.setIdle(c, false) {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.headerTimeout))
		plain, err := c.readHead()
		if err != nil {
			return
		}
		if !plain {
			handOver = true
			return
		}
		if !c.forward() {
			return
		}
	}
}

// readHead reads a request head into c.head; plain says whether the fast
// path serves it.
func (c *serverConn) readHead() (plain bool, err error) {
	c.head = c.head[:0]
	for {
		line, err := c.br.ReadSlice('\n')
		c.head = append(c.head, line...)
		if errors.Is(err, bufio.ErrBufferFull) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if len(line) < 2 || line[len(line)-2] != '\r' || len(c.head) > maxPlainHead {
			return false, nil
		}
		if len(line) == 2 {
			return parsePlainRequest(c.head, &c.req), nil
		}
	}
}

// forward sends the request to a worker and its answer to the client; it
// returns whether the connection stays open for another request. A
// worker that cannot be connected to is skipped for another one.
func (c *serverConn) forward() bool {
	c.buildRequest()
	var skipped [4]*backend
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
		case wrote || c.clientGone.Load():
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
			out = append(append(out, v.of(h)...), ", "...)
		}
		out = append(append(out, c.ip...), crlf...)
	}
	out = append(append(append(out, "X-Forwarded-Host: "...), r.host.of(h)...), crlf...)
	out = append(out, "X-Forwarded-Proto: "...)
	if r.proto.end > r.proto.start {
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
