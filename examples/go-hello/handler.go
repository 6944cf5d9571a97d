package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// maxSlow caps /slow so a typo cannot hold a worker for long.
const maxSlow = 10 * time.Second

// newHandler routes the three endpoints every sample app has.
func newHandler(version string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", version)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /slow", slow)
	return mux
}

// slow sends the status line and headers at once, then the body after
// ?ms=N milliseconds: a client that has seen the headers knows its request
// is in flight, which is what a drain test needs.
func slow(w http.ResponseWriter, r *http.Request) {
	d := time.Second
	if s := r.URL.Query().Get("ms"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil || ms < 0 {
			http.Error(w, "ms must be a whole number of milliseconds, e.g. /slow?ms=500", http.StatusBadRequest)
			return
		}
		d = min(time.Duration(ms)*time.Millisecond, maxSlow)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	select {
	case <-time.After(d):
		fmt.Fprintf(w, "slow done after %dms\n", d.Milliseconds())
	case <-r.Context().Done(): // the client went away
	}
}
