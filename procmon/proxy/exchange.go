package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// One request's exchange with a worker on the fast path: the head procmon
// sends, the pick of a worker, the answer passed back, and what a failure
// answers.

// forward sends the request to a worker and its answer to the client; it
// returns whether the connection stays open for another request. A
// worker that cannot be connected to is skipped for another one.
func (c *serverConn) forward() bool {
	c.buildRequest()
	c.s.p.counts.requests.Add(1)
	var skipped [4]*Backend
	skip := skipped[:0]
	waited, noWorker := false, errNoWorker
	for {
		b := c.s.p.pick(skip)
		if b == nil && !waited && len(skip) == 0 {
			waited = true
			if noWorker = c.s.p.awaitWorker(); noWorker == nil {
				continue
			}
		}
		if b == nil {
			return c.answerError(http.StatusServiceUnavailable, noWorker)
		}
		keep, wrote, err := c.exchange(b)
		b.inflight.Add(-1)
		switch {
		case err == nil:
			return keep
		case wrote && errors.Is(err, errReadTimeout):
			c.s.log.Warn("proxy: answer cut, the client's connection closed", "request", string(c.req.line.of(c.head)), "err", err)
			return false
		case wrote || c.watch.gone.Load():
			return false
		case isDialError(err) && len(skip) < cap(skipped):
			skip = append(skip, b)
			continue
		}
		return c.answerError(failureStatus(err), err)
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
	c.s.p.countAnswer(code)
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

// failureStatus is the status answered for a request the worker did not
// answer: 504 when it went silent past read_timeout, else 502, as nginx.
func failureStatus(err error) int {
	if errors.Is(err, errReadTimeout) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
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
		keep, wrote, reuse, err = c.exchangeOn(b, fc)
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

// exchangeOn does one exchange on fc, a connection to b; reuse says
// whether fc can carry another request.
func (c *serverConn) exchangeOn(b *Backend, fc *fastConn) (keep, wrote, reuse bool, err error) {
	if !c.useWorker(fc.nc) {
		return false, false, false, errServerClosed
	}
	defer c.useWorker(nil)
	if _, err := fc.nc.Write(c.out); err != nil {
		return false, false, false, nothingReadError{err}
	}
	c.rel.worker = fc.nc
	c.armWorkerRead(fc.nc, false)
	c.watch.arm(fc.nc, c.s.watchAfter, c.br.Buffered() > 0)
	if _, err := fc.br.Peek(1); err != nil {
		c.watch.disarm()
		if err := c.readFailed(err); errors.Is(err, errReadTimeout) {
			return false, false, false, err // sent and unanswered: never resent
		}
		return false, false, false, nothingReadError{err}
	}
	for {
		if err = c.rel.read(fc.br, c.req.isHead); err != nil || c.rel.ans.code >= 200 {
			err = c.readFailed(err)
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
	b.answers.Add(1)
	// The watch stays on while the body streams: a client that leaves an
	// event stream ends the worker's request there too.
	keep = !c.req.close && c.rel.ans.framing != bodyUntilClose && !c.s.closing.Load()
	c.rel.writeHead(!keep)
	long := streams(&c.rel.ans)
	if long {
		c.streamOn(b, fc.nc)
	}
	err = c.rel.copyBody(fc.br)
	drained := long && c.streamOff(b)
	if errors.Is(err, errStreamEnded) {
		err = nil // ended whole by a drain: the client may send another request
	}
	if err == nil {
		err = c.bw.Flush()
	}
	c.watch.disarm()
	if err != nil {
		return false, true, false, err
	}
	return keep, true, c.rel.ans.reuse && !c.watch.gone.Load() && !drained, nil
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
