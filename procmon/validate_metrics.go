package procmon

import (
	"net"
	"net/netip"
)

// MetricsConfig is the [metrics] table: the Prometheus endpoint.
type MetricsConfig struct {
	// Listen is the host:port where GET /metrics answers in the Prometheus
	// text format; "" (the default) serves no endpoint.
	Listen string
}

// fileMetrics is the [metrics] table as written.
type fileMetrics struct {
	Listen string `toml:"listen"`
}

const metricsHint = `write [metrics] listen = "127.0.0.1:9464" (a loopback address unless your Prometheus scrapes from another host)`

// metrics reads [metrics]: listen must be host:port with a port of its
// own, not the app's listen, and an IP address or a name as host.
func (v *validator) metrics(fm fileMetrics, cfg *Config) {
	cfg.Metrics.Listen = fm.Listen
	if fm.Listen == "" {
		return
	}
	host, port, err := splitHostPort(fm.Listen)
	switch {
	case err != nil:
		v.failHint("metrics.listen", metricsHint, "%q: %v", fm.Listen, err)
		return
	case port < 1 || port > 65535:
		v.failHint("metrics.listen", metricsHint, "port %d is not usable", port)
		return
	case host != "" && !validHost(host):
		v.failHint("metrics.listen", metricsHint, "%q: host %q is neither an IP address nor a host name", fm.Listen, host)
		return
	}
	if cfg.Listen != "" && sameAddress(fm.Listen, cfg.Listen) {
		v.failHint("metrics.listen", "give the metrics endpoint a port of its own", "%q is the app's listen address", fm.Listen)
	}
}

// validHost: an IP address (IPv6 in brackets) or a DNS name.
func validHost(h string) bool {
	if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		_, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, c := range []byte(h) {
		if !(c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return h[0] != '-' && h[0] != '.'
}

// sameAddress says whether two host:port addresses would collide: the
// same port, and the same host or either on every address.
func sameAddress(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb {
		return false
	}
	every := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || every(ha) || every(hb)
}
