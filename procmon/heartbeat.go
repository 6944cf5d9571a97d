package procmon

import (
	"context"
	"net/http"
	"time"
)

// heartbeatResult is one finished heartbeat check, sent to the loop.
type heartbeatResult struct {
	at      time.Time
	latency time.Duration
	err     error
}

// heartbeat checks the public address the way a user's request reaches
// the app: a fresh connection to listen, GET path, within timeout.
type heartbeat struct {
	url    string
	client *http.Client
}

func newHeartbeat(listen, path string, timeout time.Duration) *heartbeat {
	return &heartbeat{
		url: publicURL(listen) + path,
		client: &http.Client{
			Timeout:   timeout,
			Transport: &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

func (h *heartbeat) check(ctx context.Context) heartbeatResult {
	start := time.Now()
	err := probeHTTP(ctx, h.client, h.url)
	return heartbeatResult{at: start, latency: time.Since(start), err: err}
}

// heartbeatGuard decides whether a heartbeat may run or reload now: never
// while a reload runs, before the first generation serves, or within
// guard of the last start or reload.
type heartbeatGuard struct {
	guard     time.Duration
	lastStart time.Time // the last start of procmon or of a reload, or its end
}

func (g *heartbeatGuard) allows(now time.Time, reloading, serving bool) bool {
	return serving && !reloading && now.Sub(g.lastStart) >= g.guard
}
