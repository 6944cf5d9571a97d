package procmon

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waitingBody is what the public port answers (503, with a newline) in
// socket mode while no worker runs.
const waitingBody = "procmon: no release is deployed yet"

// unavailable answers 503 on socket mode's shared listening socket while
// no worker runs (waiting for the first deploy): otherwise nobody would
// accept, and clients would hang in the listen backlog until they time
// out. In proxy mode the proxy answers 503 itself when no worker is ready.
type unavailable struct {
	srv  *http.Server
	done chan struct{}
}

// serveUnavailable starts answering body on f, the listening socket.
func serveUnavailable(f *os.File, body string, log *slog.Logger) (*unavailable, error) {
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("answer 503 on the shared socket: %w", err)
	}
	u := &unavailable{done: make(chan struct{}), srv: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			http.Error(w, body, http.StatusServiceUnavailable)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	go func() {
		defer close(u.done)
		u.srv.Serve(l)
	}()
	return u, nil
}

// stop closes the answering listener and its connections, then puts f
// back in blocking mode: net.FileListener made the socket, which f
// shares, non-blocking, and workers get it blocking (see listenerFile).
func (u *unavailable) stop(f *os.File) error {
	u.srv.Close()
	<-u.done
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		return fmt.Errorf("share the listening socket: %w", err)
	}
	return nil
}

// answerUnavailable starts the 503 answers of socket mode while no
// generation runs; without a shared socket (proxy and none modes) it does
// nothing.
func (s *Supervisor) answerUnavailable() { s.answerUnavailableWith(waitingBody) }

// answerUnavailableWith starts answering 503 with body (socket mode).
func (s *Supervisor) answerUnavailableWith(body string) {
	if s.listenFile == nil || s.unavail != nil || s.stopping {
		return
	}
	u, err := serveUnavailable(s.listenFile, body, s.log)
	if err != nil {
		s.log.Warn("connections wait in the listen backlog until a generation runs", "err", err)
		return
	}
	s.unavail = u
}

// stopUnavailable stops the 503 answers before workers take the socket,
// or at shutdown.
func (s *Supervisor) stopUnavailable() {
	if s.unavail == nil {
		return
	}
	if err := s.unavail.stop(s.listenFile); err != nil {
		s.log.Warn("socket mode", "err", err)
	}
	s.unavail = nil
}
