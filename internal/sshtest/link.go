package sshtest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Link is a loopback TCP proxy that behaves like a slower network link in
// front of a server: every byte takes Delay to cross in either direction,
// and each direction carries at most Rate bytes per second (bytes queue
// behind the ones before them, as on a link's bottleneck). Benchmarks
// use it to show what a round trip or a transfer costs over a real
// connection, which loopback hides. It is closed in t.Cleanup.
type Link struct {
	ln     net.Listener
	target string
	o      LinkOptions
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

// LinkOptions shape a Link.
type LinkOptions struct {
	// Delay is the one-way delay (a round trip is twice this).
	Delay time.Duration
	// Rate is each direction's bandwidth in bytes per second (0 =
	// unlimited).
	Rate float64
}

// NewLink starts a Link on 127.0.0.1:<free port> forwarding to
// targetAddr.
func NewLink(t testing.TB, targetAddr string, o LinkOptions) *Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: link listen: %v", err)
	}
	l := &Link{ln: ln, target: targetAddr, o: o}
	l.wg.Add(1)
	go l.acceptLoop()
	t.Cleanup(l.Close)
	return l
}

// Addr is the link's address, "127.0.0.1:<port>": dial this instead of
// the target.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Port is the link's port.
func (l *Link) Port() int { return l.ln.Addr().(*net.TCPAddr).Port }

// Close stops accepting and closes every connection.
func (l *Link) Close() {
	_ = l.ln.Close()
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *Link) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", l.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, c, s)
		l.mu.Unlock()
		l.wg.Add(2)
		go l.carry(c, s)
		go l.carry(s, c)
	}
}

// chunk is what one read took in, and when it may come out.
type chunk struct {
	b   []byte
	due time.Time
}

// carry moves from's bytes to to: each read is queued behind the bytes
// before it at Rate, then held Delay; EOF (or an error) is passed on as a
// write-side close once what came before it is out.
func (l *Link) carry(from, to net.Conn) {
	defer l.wg.Done()
	q := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := to.Write(c.b); err != nil {
				_ = from.Close()
				for range q { // drain: the reader ends when from is closed
				}
				return
			}
		}
		if tc, ok := to.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	var free time.Time // when the link has sent what was queued
	for {
		buf := make([]byte, 32<<10)
		n, err := from.Read(buf)
		if n > 0 {
			now := time.Now()
			if free.Before(now) {
				free = now
			}
			if l.o.Rate > 0 {
				free = free.Add(time.Duration(float64(n) / l.o.Rate * float64(time.Second)))
			}
			q <- chunk{b: buf[:n], due: free.Add(l.o.Delay)}
		}
		if err != nil {
			close(q)
			<-done
			return
		}
	}
}
