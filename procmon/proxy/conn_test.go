package proxy

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestKeepAliveRequestReadOnce: a keep-alive request that arrives whole
// is read from the client's socket with one read that returns bytes, and
// its connection still holds no buffer while it waits. Waiting with a
// 1-byte read, then reading the rest, cost a read per request more: a
// fifth of the proxy's CPU per request for a worker that answers in 1 ms
// (BENCHMARKS.md, "the extra read per keep-alive request").
func TestKeepAliveRequestReadOnce(t *testing.T) {
	worker, _ := startWorker(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	p := newHandler(NewPool(), slog.New(slog.DiscardHandler), Config{})
	p.Set([]*Backend{backendFor(t, worker.URL)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &readCountingListener{Listener: ln}
	srv := newServer(p, p.log)
	go srv.Serve(counted)
	t.Cleanup(func() { srv.Close() })
	c := (&testFront{addr: ln.Addr().String()}).dial(t)
	const requests = 20
	for i := range requests {
		if i%5 == 4 {
			time.Sleep(20 * time.Millisecond) // the next request finds the connection waiting, no buffer held
		}
		c.get("/", 200, "hello")
	}
	if got := counted.reads.Load(); got != requests {
		t.Fatalf("%d requests were read with %d reads that returned bytes; want one each", requests, got)
	}
}

// readCountingListener counts the reads of its connections that
// returned bytes, through net.Conn's Read or a syscall.RawConn's.
type readCountingListener struct {
	net.Listener
	reads atomic.Int64
}

func (l *readCountingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return readCountingConn{nc.(*net.TCPConn), &l.reads}, nil
}

type readCountingConn struct {
	*net.TCPConn
	reads *atomic.Int64
}

func (c readCountingConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

func (c readCountingConn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.TCPConn.SyscallConn()
	return readCountingRaw{rc, c.reads}, err
}

// readCountingRaw counts the callbacks of Read that end the read: with
// bytes, as no error happens in the test.
type readCountingRaw struct {
	syscall.RawConn
	reads *atomic.Int64
}

func (r readCountingRaw) Read(f func(fd uintptr) bool) error {
	return r.RawConn.Read(func(fd uintptr) bool {
		done := f(fd)
		if done {
			r.reads.Add(1)
		}
		return done
	})
}

// TestAppendHeadBoundsSlack: a large request head grows its buffer in
// steps, so that it never sits in more than max_head, nor in more than a
// step (plus an eighth of it) beyond its length. append alone put a 30 KB
// head of 512-byte lines in a 40 KB buffer with a 32 KB max_head.
func TestAppendHeadBoundsSlack(t *testing.T) {
	for _, tc := range []struct {
		limit, part int
	}{
		{32 << 10, 512}, {32 << 10, 4 << 10}, {32<<10 + 100, 4 << 10}, {1 << 20, 512}, {1 << 20, 4 << 10},
	} {
		t.Run(fmt.Sprintf("max_head %d, parts of %d", tc.limit, tc.part), func(t *testing.T) {
			var head, want []byte
			for i := 0; len(head)+tc.part <= tc.limit; i++ {
				part := bytes.Repeat([]byte{byte('a' + i%26)}, tc.part)
				head = appendHead(head, part, tc.limit)
				want = append(want, part...)
				if slack := cap(head) - len(head); cap(head) > tc.limit || slack > headStep+len(head)/8 {
					t.Fatalf("a head of %d bytes sits in %d (%d unused); want at most max_head (%d) and %d unused",
						len(head), cap(head), slack, tc.limit, headStep+len(head)/8)
				}
			}
			if !bytes.Equal(head, want) {
				t.Fatalf("the head's bytes changed as it grew")
			}
		})
	}
}
