package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server serves the public port in proxy mode. Every connection
// starts on the fast path (conn.go): a plain HTTP/1.1 loop that
// reads GET and HEAD requests itself and passes them to a worker over a
// pooled connection, on the connection's own goroutine. The first request
// that is anything else (a body, an upgrade, HTTP/1.0, an odd header) is
// handed over, with the bytes already read, to a net/http server running
// the same proxy through httputil.ReverseProxy; that server keeps the
// connection until it ends.
//
// Why: net/http's server and client cost about three times what a
// hello-world worker spends on a request (two goroutine hand-offs, a
// background read per request, header maps), and plain GETs and HEADs are
// nearly all of a web app's traffic.
type Server struct {
	p    *handler
	log  *slog.Logger
	std  *http.Server
	hand *handoffListener

	cfg           Config
	maxHead       int           // a longer request head is refused
	idleTimeout   time.Duration // an idle keep-alive connection is closed after this
	headerTimeout time.Duration // a request head must arrive within this
	watchAfter    time.Duration // a request still waiting for the worker after this watches its client

	closing atomic.Bool
	mu      sync.Mutex
	park    *parker // idle connections without a goroutine (park_linux.go); nil: none
	ln      net.Listener
	conns   map[*serverConn]struct{}
	goneC   chan struct{} // made by the first Shutdown or Close; closed once conns is empty
	gone    chan struct{} // goneC while it is still open
}

// NewServer is a server for the workers of pool, as cfg says; log takes
// its warnings.
func NewServer(pool *Pool, log *slog.Logger, cfg Config) *Server {
	return newServer(newHandler(pool, log, cfg), log)
}

func newServer(p *handler, log *slog.Logger) *Server {
	s := &Server{
		p:             p,
		log:           log,
		cfg:           p.cfg,
		maxHead:       p.cfg.MaxHead,
		idleTimeout:   p.cfg.IdleTimeout,
		headerTimeout: p.cfg.HeadTimeout,
		watchAfter:    50 * time.Millisecond,
		conns:         map[*serverConn]struct{}{},
	}
	s.std = s.newStdServer()
	return s
}

// newStdServer is the net/http server for handed-over connections.
func (s *Server) newStdServer() *http.Server {
	return &http.Server{
		Handler:           s.p,
		ReadHeaderTimeout: s.headerTimeout,
		IdleTimeout:       s.idleTimeout,
		MaxHeaderBytes:    s.maxHead,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Serve accepts connections on l until Shutdown or Close; it returns
// http.ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = l
	s.hand = newHandoffListener(l.Addr())
	if s.park == nil {
		s.park = newParker(s)
	}
	s.mu.Unlock()
	go s.std.Serve(s.hand)
	var pause time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if acceptRetryable(err) {
				// Out of file descriptors or similar: wait, as net/http does.
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				s.log.Warn("proxy: accept failed; retrying", "err", err, "in", pause)
				time.Sleep(pause)
				continue
			}
			return err
		}
		pause = 0
		c := s.track(nc)
		if c == nil {
			nc.Close()
			return http.ErrServerClosed
		}
		go c.serve(false)
	}
}

// acceptRetryable: accept errors that pass (out of file descriptors, a
// connection reset before it was accepted).
func acceptRetryable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (s *Server) track(nc net.Conn) *serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	c := newServerConn(s, nc)
	s.conns[c] = struct{}{}
	return c
}

// untrack forgets a connection that ended or was handed over.
func (s *Server) untrack(c *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.gone != nil {
		close(s.gone)
		s.gone = nil
	}
}

// setIdle marks a connection idle (waiting for its next request) or busy.
// It returns false when the server is shutting down: an idle connection
// then ends, as net/http's do.
func (s *Server) setIdle(c *serverConn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.idle = idle
	return !s.closing.Load()
}

// Shutdown stops accepting, closes idle connections, and waits until the
// requests in flight have been answered or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	gone := s.beginClose(false)
	stdDone := make(chan error, 1)
	go func() { stdDone <- s.std.Shutdown(ctx) }()
	select {
	case <-gone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-stdDone
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.beginClose(true)
	return s.std.Close()
}

// beginClose closes the listener and the idle connections (all of them
// when all is set), and returns a channel closed once no fast-path
// connection is left.
func (s *Server) beginClose(all bool) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	if s.ln != nil {
		s.ln.Close()
		s.hand.Close()
	}
	for c := range s.conns {
		if all {
			c.abort()
		}
		if c.idle && s.park.take(c) { // parked: no goroutine of its own ends it
			c.nc.Close()
			delete(s.conns, c)
			continue
		}
		if all || c.idle {
			c.nc.Close()
		}
	}
	s.park.Close()
	if s.goneC == nil {
		s.goneC = make(chan struct{})
		s.gone = s.goneC
	}
	if len(s.conns) == 0 && s.gone != nil {
		close(s.gone)
		s.gone = nil
	}
	return s.goneC
}

// handOver gives a connection to the net/http server; replay is what the
// fast path already read of it. Once a shutdown has begun that server no
// longer takes connections, but the request that was arriving is still
// answered, as net/http's own Shutdown answers an active connection: on a
// server of its own, without keep-alive; the caller still counts as a
// connection Shutdown waits for.
func (s *Server) handOver(c *serverConn, replay []byte) {
	hc := &handedConn{Conn: c.nc, r: io.MultiReader(bytes.NewReader(bytes.Clone(replay)), c.br)}
	if s.hand.give(hc) {
		return
	}
	done := make(chan struct{})
	var once sync.Once
	last := s.newStdServer()
	last.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			once.Do(func() { close(done) })
		}
	}
	last.SetKeepAlivesEnabled(false)
	l := newHandoffListener(hc.LocalAddr())
	go last.Serve(l)
	l.give(hc)
	<-done
	l.Close()
}
