package procmon

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/deploytool/deploy/procmon/proxy"
)

// proxy reads the [proxy] table: every key has a default (nginx's where
// nginx has one), so the table is optional.
func (v *validator) proxy(fp *fileProxy, cfg *Config) {
	p := &cfg.Proxy
	p.HeadTimeout = v.duration("proxy.head_timeout", fp.HeadTimeout, proxy.DefaultHeadTimeout, false)
	p.BodyTimeout = v.duration("proxy.body_timeout", fp.BodyTimeout, proxy.DefaultBodyTimeout, false)
	p.SendTimeout = v.duration("proxy.send_timeout", fp.SendTimeout, proxy.DefaultSendTimeout, false)
	p.ReadTimeout = v.duration("proxy.read_timeout", fp.ReadTimeout, proxy.DefaultReadTimeout, false)
	p.IdleTimeout = v.duration("proxy.keepalive_timeout", fp.KeepaliveTimeout, proxy.DefaultIdleTimeout, false)
	p.DrainTimeout = v.duration("proxy.drain_timeout", fp.DrainTimeout, proxy.DefaultDrainTimeout, false)
	p.BufferBody = v.size("proxy.buffer_body", fp.BufferBody, proxy.DefaultBufferBody, 1<<30)
	p.MaxHead = int(v.size("proxy.max_head", fp.MaxHead, proxy.DefaultMaxHead, 1<<20))
	if fp.MaxHead != "" && p.MaxHead < 1<<10 {
		v.failHint("proxy.max_head", "at least \"1KB\"; the default is \"32KB\"", "%q is too small for real requests", fp.MaxHead)
	}
	for _, t := range fp.Trusted {
		pre, err := parseTrusted(t)
		if err != nil {
			v.failHint("proxy.trusted", "write it like \"10.0.0.0/8\", \"127.0.0.1\" or \"::1/128\"", "%q is not an address or CIDR", t)
			continue
		}
		p.Trusted = append(p.Trusted, pre)
	}
	switch fp.Underscores {
	case "", "drop":
	case "refuse":
		p.RefuseUnderscores = true
	default:
		v.fail("proxy.underscores", "%q is not one of drop, refuse", fp.Underscores)
	}
	if cfg.Mode != ModeProxy && fp.set() {
		v.failHint("proxy", "remove the [proxy] table, or set mode = \"proxy\"", "only used in mode \"proxy\"")
	}
}

// size reads a size key up to max bytes.
func (v *validator) size(key, s string, def, max int64) int64 {
	if s == "" {
		return def
	}
	n, err := parseSize(s)
	switch {
	case err != nil:
		v.failHint(key, "write it like \"1MB\" or \"32KB\"", "%q: %v", s, err)
		return def
	case n > max:
		v.fail(key, "%q is more than %s", s, fmt.Sprintf("%d MB", max>>20))
	}
	return n
}

// parseTrusted reads a CIDR or a single address.
func parseTrusted(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// set says whether the [proxy] table sets anything.
func (fp *fileProxy) set() bool {
	return len(fp.Trusted) > 0 || strings.Join([]string{fp.HeadTimeout, fp.BodyTimeout, fp.SendTimeout,
		fp.ReadTimeout, fp.KeepaliveTimeout, fp.DrainTimeout, fp.BufferBody, fp.MaxHead, fp.Underscores}, "") != ""
}
