package proxy

import (
	"net/netip"
	"time"
)

// Config is what a proxy owner sets: timeouts, sizes and whom to trust.
// The zero value of each field means its default, named below; the
// defaults are nginx's where nginx has one.
type Config struct {
	// HeadTimeout bounds the arrival of a whole request head, from its
	// first byte (nginx client_header_timeout). Default 60s.
	HeadTimeout time.Duration
	// BodyTimeout bounds the wait between two reads of a request body
	// (nginx client_body_timeout). Default 60s.
	BodyTimeout time.Duration
	// SendTimeout bounds the wait between two writes of an answer to a
	// client that does not read (nginx send_timeout). Default 60s.
	SendTimeout time.Duration
	// ReadTimeout bounds a worker's silence (nginx proxy_read_timeout):
	// the wait for its answer's head once the request was sent, and the
	// wait between two reads of the answer's body. A worker silent that
	// long before its head is answered 504 Gateway Timeout for it and the
	// request is not sent elsewhere (it may have had effects; nginx would
	// try the next server, procmon's workers all run the same code); one
	// silent mid-body has its client's connection closed, the answer being
	// incomplete. Event streams (text/event-stream) and upgraded
	// connections are exempt: idle is their normal state, and nginx cutting
	// them after 60 s is why apps behind it send keep-alive pings; a hung
	// worker holding one is what [heartbeat] finds. Default 60s.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for this
	// long (nginx keepalive_timeout). Default 75s.
	IdleTimeout time.Duration
	// BufferBody is the size up to which a request body is read whole
	// before a worker is picked; a larger one streams. Default 1 MB.
	BufferBody int64
	// MaxHead is the largest request head accepted; a longer one is
	// answered 431 (nginx: large_client_header_buffers, 4 × 8k). Default 32 KB.
	MaxHead int
	// Trusted are the client addresses whose X-Forwarded-For, -Proto and
	// -Host (and Forwarded) are kept and appended to: a front proxy's. From
	// anyone else they are removed. nil trusts no one.
	Trusted []netip.Prefix
	// RefuseUnderscores answers 400 to a request with a header name that
	// has an underscore; false drops such headers silently, as nginx does.
	// A name with another character that is not a letter, digit or "-"
	// ("X.Forwarded.For") is always dropped, as nginx drops it.
	RefuseUnderscores bool
	// DrainTimeout is the window over which a retired worker's long-lived
	// connections (upgrades, event streams) are closed, spread out so that
	// their clients do not all reconnect at once. Default 30s.
	DrainTimeout time.Duration
}

// Defaults of Config, exported for the config reference.
const (
	DefaultHeadTimeout  = 60 * time.Second
	DefaultBodyTimeout  = 60 * time.Second
	DefaultSendTimeout  = 60 * time.Second
	DefaultReadTimeout  = 60 * time.Second
	DefaultIdleTimeout  = 75 * time.Second
	DefaultBufferBody   = 1 << 20
	DefaultMaxHead      = 32 << 10
	DefaultDrainTimeout = 30 * time.Second
)

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeadTimeout, DefaultHeadTimeout)
	def(&c.BodyTimeout, DefaultBodyTimeout)
	def(&c.SendTimeout, DefaultSendTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.DrainTimeout, DefaultDrainTimeout)
	if c.BufferBody <= 0 {
		c.BufferBody = DefaultBufferBody
	}
	if c.MaxHead <= 0 {
		c.MaxHead = DefaultMaxHead
	}
	return c
}

// trusts says whether a client's own X-Forwarded-* headers are kept.
func (c *Config) trusts(ip netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
