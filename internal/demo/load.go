package demo

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// loadLimits bound every load loop in count and time.
const (
	loadWorkers     = 4
	loadMaxRequests = 1000000
	loadMaxDuration = 5 * time.Minute
	// loadPause paces each worker (at most ~2000 requests/s in all), so
	// that the load does not starve the deploy it watches on a small box.
	loadPause = 2 * time.Millisecond
)

// loadReport is what a load loop saw.
type loadReport struct {
	Requests int
	Failed   int
	Versions map[string]int // response body -> count
	FirstErr string
}

// load sends GET url from a few keep-alive clients until stop is closed, or
// its count or time limit is reached.
type load struct {
	url      string
	stop     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	rep      loadReport
	total    int  // requests of the phases before rep
	hitBound bool // the count or time bound stopped the loop
}

func startLoad(ctx context.Context, url string) *load {
	l := &load{url: url, stop: make(chan struct{}), rep: loadReport{Versions: map[string]int{}}}
	ctx, l.cancel = context.WithTimeout(ctx, loadMaxDuration)
	for range loadWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := newClient()
			// Requests themselves are not cancelled (the client timeout
			// bounds them), so stopping never shows up as a failure.
			reqCtx := context.WithoutCancel(ctx)
			for l.next(ctx) {
				l.record(get(reqCtx, client, url))
				time.Sleep(loadPause)
			}
		}()
	}
	return l
}

// next reports whether to send another request.
func (l *load) next(ctx context.Context) bool {
	select {
	case <-l.stop:
		return false
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ctx.Err() != nil || l.total+l.rep.Requests >= loadMaxRequests {
		l.hitBound = true
		return false
	}
	return true
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{resp.StatusCode}
	}
	return strings.TrimSpace(string(body)), nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

func (l *load) record(body string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rep.Requests++
	if err != nil {
		l.rep.Failed++
		if l.rep.FirstErr == "" {
			l.rep.FirstErr = err.Error()
		}
		return
	}
	l.rep.Versions[body]++
}

// phase returns what the loop saw since the last phase, and starts a new
// one; the loop goes on.
func (l *load) phase() loadReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	rep := l.rep
	l.total += rep.Requests
	l.rep = loadReport{Versions: map[string]int{}}
	return rep
}

// exhausted reports whether the loop stopped at its count or time bound
// rather than by finish.
func (l *load) exhausted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hitBound
}

// finish stops the loop and returns what it saw.
func (l *load) finish() loadReport {
	close(l.stop)
	l.wg.Wait()
	l.cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rep
}

func newClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
