package procmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/procmon/promtext"
)

// metricsEndpoint serves GET /metrics on [metrics] listen for the
// daemon's whole life: it opens in NewDaemon (so a port taken is an error
// at start) and closes when Run returns.
type metricsEndpoint struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// openMetrics binds addr; nothing is served until serve.
func openMetrics(addr string, h http.Handler, log *slog.Logger) (*metricsEndpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("key \"metrics.listen\": cannot listen on %s: %w", addr, err),
			"is another exporter on that port (node_exporter has 9100)? choose a free one, or remove [metrics]")
	}
	return &metricsEndpoint{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}, nil
}

// Addr is the address it listens on (with the port the kernel chose
// for ":0").
func (e *metricsEndpoint) Addr() string { return e.ln.Addr().String() }

// serve answers until close.
func (e *metricsEndpoint) serve(log *slog.Logger) {
	defer close(e.done)
	if err := e.srv.Serve(e.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics endpoint stopped", "err", err)
	}
}

// close stops listening and ends the scrapes in progress; it is safe
// whether serve ran or not.
func (e *metricsEndpoint) close() {
	e.srv.Close()
	e.ln.Close()
}

// MetricsAddr returns the address of the Prometheus endpoint, or "" when
// the config has no [metrics] listen.
func (d *Daemon) MetricsAddr() string {
	if d.metrics == nil {
		return ""
	}
	return d.metrics.Addr()
}

// serveMetrics is the metrics endpoint: GET or HEAD /metrics answers the
// app's metrics in the Prometheus text format (see prometheus.go), fresh
// from one round of the supervisor's loop, like procmon status.
func (d *Daemon) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.Error(w, "procmon: the metrics are at /metrics", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "procmon: GET /metrics", http.StatusMethodNotAllowed)
		return
	}
	fresh, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	d.sup.Ping(fresh) // a hung loop: its last snapshot
	var buf bytes.Buffer
	if err := promtext.Write(&buf, metricFamilies(d.sup.Status(), d.controlStatus(), d.cfg)); err != nil {
		d.logger.Error("metrics endpoint", "err", err)
		http.Error(w, "procmon: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", promtext.ContentType)
	w.Write(buf.Bytes())
}
