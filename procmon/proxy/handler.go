package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// handler forwards the requests the fast path hands over to net/http's
// server (bodies, upgrades, HTTP/1.0, odd headers) through
// httputil.ReverseProxy, to the workers of its Pool.
type handler struct {
	*Pool
	log *slog.Logger
	cfg Config // with defaults
	rp  *httputil.ReverseProxy
}

var errNoWorker = errors.New("no worker is ready")

func newHandler(pool *Pool, log *slog.Logger, cfg Config) *handler {
	h := &handler{Pool: pool, log: log, cfg: cfg.withDefaults()}
	h.rp = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    h,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: h.serveError,
		BufferPool:   &bufferPool{},
	}
	return h
}

// rewrite keeps the X-Forwarded-For/Proto a front proxy (nginx) set and
// appends the client, as a proxy chain expects. A request without a Host
// (HTTP/1.0) is given the address the client connected to, the
// server's own name (RFC 9112 section 3.3), not the worker's address.
// Expect is left out: procmon's server answered it (100 Continue) when it
// began to read the body, and the worker's own 100 would reach the client
// as a second one.
func rewrite(pr *httputil.ProxyRequest) {
	if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
		pr.Out.Header["X-Forwarded-For"] = xff
	}
	pr.SetXForwarded()
	if proto := pr.In.Header.Get("X-Forwarded-Proto"); proto != "" {
		pr.Out.Header.Set("X-Forwarded-Proto", proto)
	}
	pr.Out.Header.Del("Expect")
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "worker"
	pr.Out.Host = pr.In.Host
	if pr.Out.Host == "" {
		if a, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			pr.Out.Host = a.String()
			pr.Out.Header.Set("X-Forwarded-Host", pr.Out.Host)
		}
	}
}

// ServeHTTP reads the request's body (see bufferBody) before it picks a
// worker, and bounds the time between writes of the answer.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Header.Del("Upgrade") // upgrades go through the fast path's tunnel only
	rc := http.NewResponseController(w)
	sw := &sendWriter{ResponseWriter: w, rc: rc, d: h.cfg.SendTimeout}
	if r.Body != nil && r.Body != http.NoBody {
		body := &bodyReader{r: r.Body, rc: rc, d: h.cfg.BodyTimeout}
		if code := bufferBody(r, body, h.cfg.BufferBody); code != 0 {
			h.log.Debug("proxy: request body refused", "client", r.RemoteAddr, "code", code)
			w.Header().Set("Connection", "close")
			w.WriteHeader(code)
			return
		}
		sw.body = body
		if _, streams := r.Body.(readCloser); streams {
			// A body that streams (over buffer_body) goes on to the
			// worker while its answer comes back: net/http's server
			// would otherwise take what is left of it for itself the
			// moment the answer's head is written, from under the
			// transport still sending it to the worker.
			rc.EnableFullDuplex()
		}
	}
	defer flushOnAbort(sw)
	h.rp.ServeHTTP(sw, r)
	rc.SetWriteDeadline(time.Now().Add(h.cfg.SendTimeout)) // for what net/http writes last
}

// flushOnAbort passes on what the worker sent of an answer that failed
// midway (the worker went silent past read_timeout, or died) before
// ReverseProxy's abort closes the connection, as the fast path and nginx
// do: the client gets the head and a short body rather than nothing.
func flushOnAbort(sw *sendWriter) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			sw.FlushError()
		}
		panic(v)
	}
}

// serveError answers a request the worker did not answer: 503 with no
// worker, the client's fault (400, 408) when its body failed as it
// streamed to the worker, else 502.
func (h *handler) serveError(w http.ResponseWriter, r *http.Request, err error) {
	if sw, ok := w.(*sendWriter); ok && sw.body != nil {
		if code := int(sw.body.failed.Load()); code != 0 {
			h.log.Debug("proxy: request body failed", "client", r.RemoteAddr, "code", code, "err", err)
			w.Header().Set("Connection", "close")
			w.WriteHeader(code)
			return
		}
	}
	code := failureStatus(err)
	if errors.Is(err, errNoWorker) || errors.Is(err, errWakeFailed) {
		code = http.StatusServiceUnavailable
	}
	h.countAnswer(code)
	if r.Context().Err() == nil {
		h.log.Warn("proxy: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(code)
}

// RoundTrip sends the request to a worker. A request that could not be
// connected (the worker just died or was stopped) goes to another worker;
// a request whose body was already read is never sent twice. req is
// ReverseProxy's own outgoing copy, so it is changed in place.
func (h *handler) RoundTrip(req *http.Request) (*http.Response, error) {
	h.counts.requests.Add(1)
	// The request's own context, for a drain to end a streamed answer
	// (stream_std.go); cancelled at the latest when the answer is closed.
	ctx, cancel := context.WithCancel(req.Context())
	req = req.WithContext(ctx)
	clock := newAnswerClock(h.cfg.ReadTimeout, cancel)
	var body *onceBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &onceBody{rc: req.Body, clock: clock}
		req.Body = body
	}
	var skipped [4]*Backend
	skip := skipped[:0]
	waited, noWorker := false, errNoWorker
	for {
		b := h.pick(skip)
		if b == nil && !waited && len(skip) == 0 {
			waited = true
			if noWorker = h.awaitWorker(); noWorker == nil {
				continue
			}
		}
		if b == nil {
			cancel()
			return nil, noWorker
		}
		req.URL.Host = b.addr
		clock.start()
		resp, err := b.std.RoundTrip(req)
		if err == nil {
			b.answers.Add(1)
			clock.gotHead()
			if !isEventStream(resp.Header.Get("Content-Type")) {
				resp.Body = &clockedBody{ReadCloser: resp.Body, clock: clock, h: h, req: req}
			}
			resp.Body = countBody(resp.Body, b, cancel)
			if answerStreams(resp) {
				streamStd(resp, b, cancel)
			}
			return resp, nil
		}
		b.inflight.Add(-1)
		if err = clock.err(err); !isDialError(err) || (body != nil && body.started.Load()) {
			cancel()
			return nil, err
		}
		skip = append(skip, b)
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// onceBody lets a request body survive a failed attempt: the transport's
// Close is ignored (the server closes the real body) and started says
// whether anything was read.
type onceBody struct {
	rc      io.ReadCloser
	started atomic.Bool
	clock   *answerClock // held while the client is read: its wait is body_timeout's
}

func (b *onceBody) Read(p []byte) (int, error) {
	b.started.Store(true)
	b.clock.pauseForBody()
	defer b.clock.resumeAfterBody()
	return b.rc.Read(p)
}

func (b *onceBody) Close() error { return nil }

// answerClock is read_timeout on the net/http path: it runs while the
// request waits for the worker (for its answer's head, and in each read
// of the answer's body) and cancels the request when it runs out. Until
// the head came it also pauses while the request's body is read from the
// client (that wait is body_timeout's); the transport may still read the
// body after the head came, and must not restart it then.
type answerClock struct {
	d     time.Duration
	t     *time.Timer
	fired atomic.Bool

	mu   sync.Mutex
	head bool // the answer's head came
}

func newAnswerClock(d time.Duration, cancel context.CancelFunc) *answerClock {
	c := &answerClock{d: d}
	c.t = time.AfterFunc(time.Hour, func() {
		c.fired.Store(true)
		cancel()
	})
	c.t.Stop()
	return c
}

// start (re)starts the wait for the worker; stop ends it.
func (c *answerClock) start() { c.t.Reset(c.d) }
func (c *answerClock) stop()  { c.t.Stop() }

// pauseForBody and resumeAfterBody bracket a read of the request's body
// while the head is awaited; gotHead ends that wait.
func (c *answerClock) pauseForBody() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.head {
		c.t.Stop()
	}
}

func (c *answerClock) resumeAfterBody() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.head {
		c.t.Reset(c.d)
	}
}

func (c *answerClock) gotHead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.head = true
	c.t.Stop()
}

// err is what a failure of the request or of a read of its answer
// means: errReadTimeout once the clock ran out.
func (c *answerClock) err(err error) error {
	if err != nil && c.fired.Load() {
		return readTimeout(c.d)
	}
	return err
}

// clockedBody is an answer's body each read of which must get something
// from the worker within read_timeout; one that did not fails, which
// closes the client's connection (the answer is incomplete).
type clockedBody struct {
	io.ReadCloser
	clock *answerClock
	h     *handler
	req   *http.Request
}

func (c *clockedBody) Read(p []byte) (int, error) {
	c.clock.start()
	n, err := c.ReadCloser.Read(p)
	c.clock.stop()
	if err != nil && err != io.EOF {
		if err = c.clock.err(err); errors.Is(err, errReadTimeout) {
			c.h.log.Warn("proxy: answer cut, the client's connection closed", "method", c.req.Method, "path", c.req.URL.Path, "err", err)
		}
	}
	return n, err
}

func (c *clockedBody) Close() error {
	c.clock.stop()
	return c.ReadCloser.Close()
}

// countedBody ends a request's count on its backend when the response body
// is closed, so that draining waits for streamed bodies too, and ends the
// request's context.
type countedBody struct {
	io.ReadCloser
	once   sync.Once
	b      *Backend
	cancel context.CancelFunc
}

func (c *countedBody) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() { c.b.inflight.Add(-1) })
	c.cancel()
	return err
}

// countedRWBody keeps the io.Writer of a 101 Switching Protocols body,
// which ReverseProxy needs for WebSocket and other upgrades.
type countedRWBody struct {
	*countedBody
	w io.Writer
}

func (c *countedRWBody) Write(p []byte) (int, error) { return c.w.Write(p) }

func countBody(body io.ReadCloser, b *Backend, cancel context.CancelFunc) io.ReadCloser {
	cb := &countedBody{ReadCloser: body, b: b, cancel: cancel}
	if w, ok := body.(io.Writer); ok {
		return &countedRWBody{countedBody: cb, w: w}
	}
	return cb
}

// bufferPool recycles the proxy's copy buffers; without it every response
// allocates a fresh 32 KB buffer, which was most of the proxy's garbage.
// 8 KB: one is held per response being copied (64 under the benchmark's
// load), and loopback reads rarely return more.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.pool.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 8<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }
