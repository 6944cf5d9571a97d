package proxy

import (
	"net"
	"sync/atomic"
	"time"
)

// clientWatch reads a client's connection while its request waits for
// the worker: a request the worker has not answered within the server's
// watchAfter starts a read, so that a client that leaves ends the
// worker's request (as net/http's background read does, but only for
// slow requests).
type clientWatch struct {
	nc     net.Conn      // the client
	src    *clientReader // keeps a byte the watch read
	timer  *time.Timer
	armed  bool
	done   chan struct{}
	worker net.Conn // the worker connection the watch cuts
	gone   atomic.Bool
}

func (w *clientWatch) init(nc net.Conn, src *clientReader) {
	w.nc, w.src, w.done = nc, src, make(chan struct{}, 1)
	w.timer = time.AfterFunc(time.Hour, w.run)
	w.timer.Stop()
}

// arm starts the watch's timer for a request now waiting for worker. A
// client that already sent more (pipelining, or a byte an earlier watch
// kept; pending says so) is not watched: it is there, and its bytes must
// stay unread.
func (w *clientWatch) arm(worker net.Conn, after time.Duration, pending bool) {
	if pending || w.src.has {
		return
	}
	w.nc.SetReadDeadline(time.Time{})
	w.worker, w.armed = worker, true
	w.timer.Reset(after)
}

// disarm stops the watch; one already reading is woken and waited for.
func (w *clientWatch) disarm() {
	if !w.armed {
		return
	}
	w.armed = false
	if w.timer.Stop() {
		return
	}
	w.nc.SetReadDeadline(aLongTimeAgo)
	<-w.done
}

// run runs on the watch's timer: it reads the client connection. A byte
// read is the client's next request (kept for the loop); an error other
// than the wake-up deadline means the client left, and the worker
// connection is cut, which ends the worker's request.
func (w *clientWatch) run() {
	defer func() { w.done <- struct{}{} }()
	var b [1]byte
	n, err := w.nc.Read(b[:])
	if n == 1 {
		w.src.b, w.src.has = b[0], true
		return
	}
	if ne, ok := err.(net.Error); err != nil && !(ok && ne.Timeout()) {
		w.gone.Store(true)
		w.worker.SetDeadline(aLongTimeAgo)
	}
}

// clientReader reads the client's connection, after the byte the client
// watch may have read from it; while direct, it reads the socket fd
// itself, once and without waiting (the poller's callback in
// serverConn.fill).
type clientReader struct {
	nc     net.Conn
	has    bool
	b      byte
	direct bool
	fd     int
}

func (r *clientReader) Read(p []byte) (int, error) {
	if r.has && len(p) > 0 {
		p[0], r.has = r.b, false
		return 1, nil
	}
	if r.direct {
		return readFD(r.fd, p)
	}
	return r.nc.Read(p)
}
