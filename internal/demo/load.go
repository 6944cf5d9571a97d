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
	loadMaxRequests = 50000
	loadMaxDuration = 60 * time.Second
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
	url    string
	stop   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	rep    loadReport
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
	case <-ctx.Done():
		return false
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rep.Requests < loadMaxRequests
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
