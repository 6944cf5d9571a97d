package procmon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// readyPoll is the longest pause between two readiness probes of a
// starting worker; see readyPause.
const readyPoll = 100 * time.Millisecond

// readyPause is the pause before the next probe, elapsed after the
// first: a tenth of it, from 5 ms to readyPoll. A worker that is up in
// 40 ms is seen within 5 ms, not at the first 100 ms tick (a held
// request's first byte waits for that: BENCHMARKS.md), and one that
// takes seconds is probed ten times a second, as before.
func readyPause(elapsed time.Duration) time.Duration {
	return min(max(elapsed/10, 5*time.Millisecond), readyPoll)
}

// startedUptime is how long a worker with ready.check "started" must stay
// up to count as ready (at most half of ready.timeout).
const startedUptime = time.Second

// waitReady blocks until the worker passes check, ctx ends (the worker
// exited or is being stopped) or the ready timeout passes. accepts, in
// socket mode, tells whether the worker accepts on the shared socket
// (nil otherwise): ReadyAccept polls it, and ReadyNotify needs it too.
func waitReady(ctx context.Context, check ReadyCheck, port int, path string, notified <-chan struct{}, accepts func() error) error {
	switch check {
	case ReadyStarted:
		// Staying up a moment is what "started" means: a worker that dies
		// at once is a crash before ready (so a crash loop is seen), and a
		// reload whose new workers die at once is abandoned.
		d := startedUptime
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*d {
			d = time.Until(dl) / 2
		}
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return readyErr(ctx, "exited within "+d.String()+" of starting")
		}
	case ReadyNotify:
		select {
		case <-notified:
			if accepts == nil {
				return nil
			}
			return poll(ctx, accepts)
		case <-ctx.Done():
			return readyErr(ctx, "no READY=1 on NOTIFY_SOCKET")
		}
	case ReadyAccept:
		if accepts == nil {
			return errors.New(`ready.check "accept" needs the shared socket (mode "socket")`)
		}
		return poll(ctx, accepts)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	last, began := "not probed yet", time.Now()
	for {
		var err error
		if check == ReadyTCP {
			err = probeTCP(ctx, addr)
		} else {
			err = probeHTTP(ctx, client, "http://"+addr+path)
		}
		if err == nil {
			return nil
		}
		last = err.Error()
		select {
		case <-ctx.Done():
			return readyErr(ctx, last)
		case <-time.After(readyPause(time.Since(began))):
		}
	}
}

// poll runs probe, at readyPause's pace, until it passes or ctx ends.
func poll(ctx context.Context, probe func() error) error {
	began := time.Now()
	for {
		err := probe()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return readyErr(ctx, err.Error())
		case <-time.After(readyPause(time.Since(began))):
		}
	}
}

func readyErr(ctx context.Context, last string) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("not ready within ready.timeout (last check: %s)", last)
	}
	return ctx.Err()
}

func probeTCP(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// probeHTTP is one GET: 2xx and 3xx are healthy.
func probeHTTP(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "procmon")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	return nil
}
