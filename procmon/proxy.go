package procmon

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// backend is one ready worker in the proxy's rotation.
type backend struct {
	addr      string
	label     string
	inflight  atomic.Int64
	retired   atomic.Bool // draining or stopped: takes no new requests
	transport *workerTransport
}

func newBackend(port int, label string) *backend {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return &backend{addr: addr, label: label, transport: newWorkerTransport(addr)}
}

// proxy forwards HTTP from listen to the ready workers of the current
// generation. The backend list is swapped atomically by the loop; requests
// read it without locks.
type proxy struct {
	backends atomic.Pointer[[]*backend]
	next     atomic.Uint64
	log      *slog.Logger
	handler  *httputil.ReverseProxy
}

var errNoWorker = errors.New("no worker is ready")

func newProxy(log *slog.Logger) *proxy {
	p := &proxy{log: log}
	p.backends.Store(&[]*backend{})
	p.handler = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    p,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: p.serveError,
		BufferPool:   &bufferPool{},
	}
	return p
}

// rewrite keeps the X-Forwarded-For/Proto a front proxy (nginx) set and
// appends the client, as a proxy chain expects.
func rewrite(pr *httputil.ProxyRequest) {
	if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
		pr.Out.Header["X-Forwarded-For"] = xff
	}
	pr.SetXForwarded()
	if proto := pr.In.Header.Get("X-Forwarded-Proto"); proto != "" {
		pr.Out.Header.Set("X-Forwarded-Proto", proto)
	}
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "worker"
	pr.Out.Host = pr.In.Host
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

func (p *proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	if errors.Is(err, errNoWorker) {
		code = http.StatusServiceUnavailable
	}
	if r.Context().Err() == nil {
		p.log.Warn("proxy: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(code)
}

func (p *proxy) set(bs []*backend) { p.backends.Store(&bs) }

// pick returns the backend with the fewest requests in flight, ties broken
// round robin, and counts the request on it before returning.
//
// A backend is retired (see Supervisor.retire) before its drain checks
// that nothing is in flight, and pick checks retired after counting: so
// either the drain sees the request, or pick sees the retirement and goes
// elsewhere, even when it read the backend list just before the switch.
func (p *proxy) pick(skip []*backend) *backend {
	bs := *p.backends.Load()
	n := len(bs)
	if n == 0 {
		return nil
	}
	start := int(p.next.Add(1) % uint64(n))
	for range n {
		var best *backend
		for i := range n {
			b := bs[(start+i)%n]
			if slices.Contains(skip, b) || b.retired.Load() {
				continue
			}
			if best == nil || b.inflight.Load() < best.inflight.Load() {
				best = b
			}
		}
		if best == nil {
			return nil
		}
		best.inflight.Add(1)
		if !best.retired.Load() {
			return best
		}
		best.inflight.Add(-1)
	}
	return nil
}

// RoundTrip sends the request to a worker. A request that could not be
// connected (the worker just died or was stopped) goes to another worker;
// a request whose body was already read is never sent twice. req is
// ReverseProxy's own outgoing copy, so it is changed in place.
func (p *proxy) RoundTrip(req *http.Request) (*http.Response, error) {
	var body *onceBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &onceBody{rc: req.Body}
		req.Body = body
	}
	var skipped [4]*backend
	skip := skipped[:0]
	for {
		b := p.pick(skip)
		if b == nil {
			return nil, errNoWorker
		}
		req.URL.Host = b.addr
		resp, err := b.transport.RoundTrip(req)
		if err == nil {
			resp.Body = countBody(resp.Body, b)
			return resp, nil
		}
		b.inflight.Add(-1)
		if !isDialError(err) || (body != nil && body.started.Load()) {
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
}

func (b *onceBody) Read(p []byte) (int, error) {
	b.started.Store(true)
	return b.rc.Read(p)
}

func (b *onceBody) Close() error { return nil }

// countedBody ends a request's count on its backend when the response body
// is closed, so that draining waits for streamed bodies too.
type countedBody struct {
	io.ReadCloser
	once sync.Once
	b    *backend
}

func (c *countedBody) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() { c.b.inflight.Add(-1) })
	return err
}

// countedRWBody keeps the io.Writer of a 101 Switching Protocols body,
// which ReverseProxy needs for WebSocket and other upgrades.
type countedRWBody struct {
	*countedBody
	w io.Writer
}

func (c *countedRWBody) Write(p []byte) (int, error) { return c.w.Write(p) }

func countBody(body io.ReadCloser, b *backend) io.ReadCloser {
	cb := &countedBody{ReadCloser: body, b: b}
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

// publicURL is the http:// base URL of a listen address, for the
// heartbeat: an unspecified host means this machine's loopback.
func publicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}
