package sshtest

import (
	"net"
	"sync"
	"testing"
)

// Cutter is a loopback TCP proxy in front of a server whose live
// connections a test can sever (Cut) or silence (Freeze), to kill a
// connection in the middle of a command. New connections keep working
// after a Cut. It is closed in t.Cleanup.
type Cutter struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	pairs    map[*pair]struct{}
	frozen   bool
	accepted int
	closed   bool
	fromTgt  int64
}

// pair is one proxied connection: the client's side and the target's.
type pair struct{ client, server net.Conn }

func (p *pair) close() {
	_ = p.client.Close()
	_ = p.server.Close()
}

// NewCutter starts a proxy on 127.0.0.1:<free port> forwarding to
// targetAddr.
func NewCutter(t testing.TB, targetAddr string) *Cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: cutter listen: %v", err)
	}
	c := &Cutter{ln: ln, target: targetAddr, pairs: map[*pair]struct{}{}}
	c.wg.Add(1)
	go c.acceptLoop()
	t.Cleanup(c.Close)
	return c
}

// Addr is the proxy's address, "127.0.0.1:<port>": dial this instead of
// the target.
func (c *Cutter) Addr() string { return c.ln.Addr().String() }

// Port is the proxy's port.
func (c *Cutter) Port() int { return c.ln.Addr().(*net.TCPAddr).Port }

// Accepted is how many connections the proxy has accepted so far.
func (c *Cutter) Accepted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted
}

// FromTarget is how many bytes the target has sent to clients through
// the proxy so far.
func (c *Cutter) FromTarget() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fromTgt
}

// Live is how many connections are open through the proxy now.
func (c *Cutter) Live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pairs)
}

// Cut closes every live connection on both sides (the client sees the
// connection reset as if the network dropped) and returns how many there
// were.
func (c *Cutter) Cut() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.pairs)
	for p := range c.pairs {
		p.close()
		delete(c.pairs, p)
	}
	return n
}

// Freeze makes the proxy swallow every byte in both directions without
// closing anything, like a peer that vanished without a FIN: only
// keepalives or timeouts can notice. It stays frozen until Thaw.
func (c *Cutter) Freeze() { c.setFrozen(true) }

// Thaw undoes Freeze for the bytes that follow (swallowed ones are lost).
func (c *Cutter) Thaw() { c.setFrozen(false) }

func (c *Cutter) setFrozen(v bool) {
	c.mu.Lock()
	c.frozen = v
	c.mu.Unlock()
}

func (c *Cutter) isFrozen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}

// Close stops the proxy and closes its connections.
func (c *Cutter) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.ln.Close()
	c.Cut()
	c.wg.Wait()
}

func (c *Cutter) acceptLoop() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", c.target)
		if err != nil {
			_ = conn.Close()
			continue
		}
		p := &pair{client: conn, server: server}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			p.close()
			return
		}
		c.pairs[p] = struct{}{}
		c.accepted++
		c.mu.Unlock()
		c.wg.Add(2)
		go c.pipe(p, p.server, p.client)
		go c.pipe(p, p.client, p.server)
	}
}

// pipe copies src to dst until either side fails, dropping bytes while the
// proxy is frozen, then closes the pair.
func (c *Cutter) pipe(p *pair, dst, src net.Conn) {
	defer c.wg.Done()
	defer func() {
		p.close()
		c.mu.Lock()
		delete(c.pairs, p)
		c.mu.Unlock()
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.isFrozen() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if src == p.server {
				c.mu.Lock()
				c.fromTgt += int64(n)
				c.mu.Unlock()
			}
		}
		if err != nil {
			return // EOF or a cut: either way the pair is done
		}
	}
}
