package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// An upgrade (WebSocket and the like) goes through procmon's own code,
// never through httputil.ReverseProxy, whose handling of an answer that
// names another protocol than the request (`Upgrade: websocket, foo`)
// leaked the worker's connection and kept it counted in flight. The
// request goes to a worker over a connection of its own, bytes the client
// sent after the head included; a 101 answer is passed on as the worker
// wrote it and the two connections are joined until either side closes;
// any other answer is relayed and the client's connection closed.

// tunnel is one upgraded client connection and its worker connection.
type tunnel struct {
	c  *serverConn
	b  *Backend
	wc net.Conn
	wr *bufio.Reader
}

// upgrade serves the screened Upgrade request in c.head; the client's
// connection ends with it.
func (c *serverConn) upgrade(v screened) {
	c.req = plainRequest{close: true} // for answerError
	c.s.p.counts.requests.Add(1)
	b, noWorker := c.s.p.pick(nil), errNoWorker
	if b == nil {
		if noWorker = c.s.p.awaitWorker(); noWorker == nil {
			b, noWorker = c.s.p.pick(nil), errNoWorker
		}
	}
	if b == nil {
		c.answerError(http.StatusServiceUnavailable, noWorker)
		return
	}
	defer b.inflight.Add(-1)
	wc, err := b.conns.dialer.Dial("tcp", b.addr)
	if err != nil {
		c.answerError(http.StatusBadGateway, err)
		return
	}
	defer wc.Close()
	if !c.useWorker(wc) {
		return
	}
	defer c.useWorker(nil)
	t := &tunnel{c: c, b: b, wc: wc, wr: bufio.NewReaderSize(wc, 4<<10)}
	if err := t.open(v); err != nil {
		c.s.log.Warn("proxy: upgrade failed", "client", c.ip, "err", err)
	}
}

// open sends the request and reads the answer; a 101 joins the two
// connections.
func (t *tunnel) open(v screened) error {
	c := t.c
	out := appendForwarded(append(c.out[:0], c.head[:len(c.head)-2]...), c, v)
	c.out = append(out, crlf...)
	t.wc.SetDeadline(time.Now().Add(c.s.headerTimeout))
	if _, err := t.wc.Write(c.out); err != nil {
		c.answerError(http.StatusBadGateway, err)
		return err
	}
	c.rel.worker = t.wc
	c.armWorkerRead(t.wc, false)
	for {
		if err := c.rel.read(t.wr, false); err != nil {
			err = c.readFailed(err)
			c.answerError(failureStatus(err), err)
			return err
		}
		if c.rel.ans.code >= 200 {
			c.rel.writeHead(true) // not upgraded: relay, then close
			if err := c.rel.copyBody(t.wr); err != nil {
				return err
			}
			return c.bw.Flush()
		}
		c.bw.Write(c.rel.head) // 1xx, 101 included: as the worker wrote it
		if err := c.bw.Flush(); err != nil {
			return err
		}
		if c.rel.ans.code == http.StatusSwitchingProtocols {
			return t.join()
		}
	}
}

// join copies bytes both ways until either side closes or fails, then
// ends both. The client's bytes already read (after its head) go first.
func (t *tunnel) join() error {
	c := t.c
	t.wc.SetDeadline(time.Time{})
	c.nc.SetDeadline(time.Time{})
	t.b.track(c, c.cut)
	defer t.b.untrack(c)
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(t.wc, c.br)
		done <- err
	}()
	go func() {
		_, err := io.Copy(c.nc, t.wr)
		done <- err
	}()
	err := <-done
	c.nc.SetDeadline(aLongTimeAgo)
	t.wc.SetDeadline(aLongTimeAgo)
	<-done
	if err != nil && !isDeadline(err) {
		return fmt.Errorf("tunnel: %w", err)
	}
	return nil
}

func isDeadline(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// appendForwarded appends the X-Forwarded-* lines procmon sets to a
// screened head (without its final CRLF): the client's address (a
// trusted client's own list stays in the head: one more line of the same
// list), the Host, and the protocol unless a trusted client set it.
func appendForwarded(out []byte, c *serverConn, v screened) []byte {
	if c.ip != "" {
		out = append(append(append(out, "X-Forwarded-For: "...), c.ip...), crlf...)
	}
	if !c.lim.trusted {
		out = append(append(append(out, "X-Forwarded-Host: "...), v.host...), crlf...)
	}
	if !v.proto {
		out = append(out, "X-Forwarded-Proto: http\r\n"...)
	}
	return out
}
