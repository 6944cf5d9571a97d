package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Bounds on one connection.
const (
	maxRequestBytes = 64 << 10
	requestTimeout  = 10 * time.Second
	statusTimeout   = 10 * time.Second
	answerTimeout   = 10 * time.Second
)

// Handler is what the daemon plugs into the Server.
type Handler interface {
	// Reload starts a reload. With wait it returns once the reload has a
	// verdict (served or abandoned), or when ctx ends (the client went
	// away or the wait timed out): ctx bounds the wait, not the reload.
	// Without wait it queues the reload and returns OutcomeQueued.
	Reload(ctx context.Context, wait bool) (ReloadResult, error)
	// Status returns a snapshot of the daemon's state.
	Status(ctx context.Context) (Status, error)
}

// Server answers control requests on a unix socket.
type Server struct {
	path    string
	handler Handler
	lock    *instanceLock
	ln      *net.UnixListener

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	mu     sync.Mutex // orders conns.Add against Close's conns.Wait
	closed bool
	conns  sync.WaitGroup
	once   sync.Once
	err    error
}

// ServerOptions are the choices of NewServerWith. The zero value is a
// socket private to the daemon's user.
type ServerOptions struct {
	// GID, when more than 0, is the group the socket belongs to: it gets
	// mode 0660, so that the group's members (the deploy user) may reload
	// and read status. 0 keeps it 0600 (root's group needs no grant).
	GID int
}

// NewServer is NewServerWith and the zero ServerOptions: a socket only the
// daemon's user may use.
func NewServer(path, app string, h Handler) (*Server, error) {
	return NewServerWith(path, app, h, ServerOptions{})
}

// NewServerWith takes the single-instance lock "<path>.lock" for app,
// replaces a stale socket left by a crashed daemon, and binds the socket
// at path with mode 0600, or root:opts.GID 0660, creating its directory
// (0755: the socket carries the access, and several apps may share the
// directory) if needed. A second daemon for the same path gets an
// *AlreadyRunningError. Serve answers requests; Close releases everything.
func NewServerWith(path, app string, h Handler, opts ServerOptions) (*Server, error) {
	if path == "" {
		return nil, errors.New("control socket: empty path")
	}
	if h == nil {
		return nil, errors.New("control socket: nil handler")
	}
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket %s: path is %d bytes, longer than the %d a unix socket allows; pick a shorter path", path, len(path), maxSocketPath)
	}
	lock, err := lockInstance(path+".lock", app)
	if err != nil {
		return nil, err
	}
	if err := clearStaleSocket(path); err != nil {
		lock.release()
		return nil, err
	}
	ln, err := listenSocket(path, opts.GID)
	if err != nil {
		lock.release()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{path: path, handler: h, lock: lock, ln: ln, ctx: ctx, cancel: cancel}, nil
}

// Path returns the socket path.
func (s *Server) Path() string { return s.path }

// Serve answers connections until ctx ends or Close is called, then waits
// for the connections in progress. It returns nil on such a stop.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	defer s.conns.Wait()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("control socket %s: accept: %w", s.path, err)
		}
		if !s.track() {
			conn.Close()
			return nil
		}
		go func() {
			defer s.conns.Done()
			s.handle(ctx, conn)
		}()
	}
}

// track counts a new connection, unless Close has begun.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns.Add(1)
	return true
}

// Close stops accepting, ends the waits in progress, removes the socket and
// releases the lock.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.ln.Close()
		s.conns.Wait()
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.err = fmt.Errorf("remove control socket: %w", err)
		}
		if err := s.lock.release(); err != nil && s.err == nil {
			s.err = fmt.Errorf("release lock: %w", err)
		}
	})
	return s.err
}

// handle answers one connection.
func (s *Server) handle(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(requestTimeout))
	var req Request
	if err := json.NewDecoder(io.LimitReader(conn, maxRequestBytes)).Decode(&req); err != nil {
		s.answer(conn, failure(fmt.Errorf("read request: %w", err), "send one JSON object such as {\"op\":\"status\"}"))
		return
	}
	conn.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	s.answer(conn, s.dispatch(ctx, conn, req))
}

func (s *Server) answer(conn *net.UnixConn, resp Response) {
	resp.Version = ProtocolVersion
	conn.SetWriteDeadline(time.Now().Add(answerTimeout))
	json.NewEncoder(conn).Encode(resp) // a client that left gets nothing
}

func (s *Server) dispatch(ctx context.Context, conn *net.UnixConn, req Request) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			resp = failure(fmt.Errorf("procmon failed answering %q: %v", req.Op, p), "")
		}
	}()
	switch req.Op {
	case OpStatus:
		ctx, cancel := context.WithTimeout(ctx, statusTimeout)
		defer cancel()
		st, err := s.handler.Status(ctx)
		if err != nil {
			return failure(fmt.Errorf("status: %w", err), "")
		}
		st.fill(time.Now())
		return Response{OK: true, Status: &st}
	case OpReload:
		return s.reload(ctx, conn, req)
	case OpScale:
		return s.scale(ctx, req)
	}
	return failure(fmt.Errorf("unknown op %q", req.Op), `use "reload", "scale" or "status"`)
}

func (s *Server) reload(ctx context.Context, conn *net.UnixConn, req Request) Response {
	timeout, err := req.waitTimeout()
	if err != nil {
		return failure(err, "")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if req.Wait {
		defer watchHangup(conn, cancel)()
	}
	r, err := s.handler.Reload(ctx, req.Wait)
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		r.Outcome = OutcomeTimeout
		r.Reason = fmt.Sprintf("no verdict within %s; the reload goes on, see 'procmon status'", timeout)
		return Response{OK: true, Reload: &r}
	case err != nil && s.ctx.Err() != nil:
		return failure(errors.New("reload: procmon is shutting down; no verdict"), "check 'procmon status' once it is back")
	case err != nil:
		return failure(fmt.Errorf("reload: %w", err), "")
	}
	return Response{OK: true, Reload: &r}
}

// watchHangup cancels when the client closes its end while we wait. The
// returned func stops watching.
func watchHangup(conn *net.UnixConn, cancel context.CancelFunc) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		if _, err := conn.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			cancel()
		}
	}()
	return func() {
		conn.SetReadDeadline(time.Unix(1, 0))
		<-done
	}
}

func failure(err error, hint string) Response {
	var he HintError
	if hint == "" && errors.As(err, &he) {
		hint = he.Hint()
	}
	return Response{OK: false, Error: err.Error(), Hint: hint}
}
