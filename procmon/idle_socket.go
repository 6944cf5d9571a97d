package procmon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// workers = "0..N" in socket mode. procmon owns the listening socket, so
// while no worker runs the kernel still completes connections and queues
// them in the listen backlog. procmon polls the socket (without
// accepting: systemd's socket activation does the same) and, when a
// connection waits, starts the workers; the first to listen accepts it.
// The connection is held, never refused.
//
// A wake whose workers are not ready within ready.timeout (they crash at
// boot, or boot too slowly) cannot be answered 503 by a worker, and
// procmon cannot answer without accepting. So procmon stops them (the
// app is idle again) and accepts itself: every waiting connection, and
// each new one for another ready.timeout, is answered 503 with a line
// that says why. Then procmon gives the socket back (once the stopped
// workers are gone) and the next connection wakes the app again: a
// broken release is tried at most once per two ready.timeouts, and it
// does not crash-loop while nobody calls. Answering makes the socket
// non-blocking (the mode is the socket's, shared with every worker);
// procmon makes it blocking again, as workers get it at start, only once
// the stopped workers are gone: a worker whose event loop made it
// non-blocking must never find it blocking under it (its accept would
// stop returning when asked to stop).

// wakeFailedBody is procmon's 503 body after a failed wake (socket mode).
const wakeFailedBody = "procmon: the idle app was woken for this connection, but no worker was ready within ready.timeout"

// socketWaker polls the listening socket and calls wake while a
// connection waits in its backlog, at most every wakeRepeat, until
// stopped.
type socketWaker struct {
	stopW *os.File // closing it ends the poll
	done  chan struct{}
}

// wakeRepeat spaces the calls of wake while the connection that caused
// the first still waits (the worker it started is booting).
const wakeRepeat = 100 * time.Millisecond

// startSocketWaker starts polling fd (the listener, blocking, shared
// with the workers: poll never changes it).
func startSocketWaker(fd int, wake func(), log *slog.Logger) (*socketWaker, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watch the idle socket: %w", err)
	}
	sw := &socketWaker{stopW: w, done: make(chan struct{})}
	rfd := int(r.Fd())
	go func() {
		defer close(sw.done)
		defer r.Close()
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(rfd), Events: unix.POLLIN}}
		for {
			fds[0].Revents, fds[1].Revents = 0, 0
			_, err := unix.Poll(fds, -1)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				log.Error("idle: cannot watch the listening socket; connections wait until procmon scale or a reload", "err", err)
				return
			case fds[1].Revents != 0:
				return
			case fds[0].Revents&unix.POLLIN != 0:
				wake()
			case fds[0].Revents != 0:
				log.Error("idle: the listening socket failed", "revents", fds[0].Revents)
				return
			}
			// The connection stays queued until a worker accepts it: poll
			// again only after a while, or the loop would spin.
			if _, err := unix.Poll(fds[1:], int(wakeRepeat/time.Millisecond)); err == nil && fds[1].Revents != 0 {
				return
			}
		}
	}()
	return sw, nil
}

// stop ends the polling and waits for it: the listener may be closed
// afterwards.
func (sw *socketWaker) stop() {
	sw.stopW.Close()
	<-sw.done
}

// idleSocket says whether procmon must watch the socket now: socket
// mode, workers = "0..N", nothing running, no reload in progress.
func (s *Supervisor) idleSocket() bool {
	return s.listenFile != nil && s.canIdle() && s.cur != nil && len(s.cur.slots) == 0 && s.next == nil && !s.stopping
}

// syncSocketWaker starts or stops the socket's watch to match the app's
// state; the loop calls it on every round. After a failed wake procmon
// answers 503 until the pause is over and the stopped workers are gone.
func (s *Supervisor) syncSocketWaker() {
	want := s.idleSocket()
	if want && s.unavail != nil {
		if time.Now().Before(s.idle.pauseUntil) || len(s.retired) > 0 {
			want = false
		} else {
			s.stopUnavailable() // nothing answers: the next connection wakes the app
		}
	}
	switch {
	case want && s.sockWaker == nil:
		fd, err := rawFd(s.listenFile)
		if err == nil {
			s.sockWaker, err = startSocketWaker(fd, s.wake, s.log)
		}
		if err != nil {
			s.log.Error("idle: connections wait until procmon scale or a reload", "err", err)
		}
	case !want:
		s.stopSocketWaker()
	}
}

func (s *Supervisor) stopSocketWaker() {
	if s.sockWaker != nil {
		s.sockWaker.stop()
		s.sockWaker = nil
	}
}

// rawFd is f's descriptor, read without os.File.Fd's side effect of
// making it blocking (it is already; this only keeps it that way).
func rawFd(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// wakeCheck is the end of a wake's ready.timeout: were the workers up?
type wakeCheck struct {
	gen  *generation
	wake int // Totals.Wakeups at that wake: a later wake has its own check
}

// armWakeCheck checks, ready.timeout after a wake, that a worker is up.
func (s *Supervisor) armWakeCheck() {
	ev := wakeCheck{s.cur, s.totals.Wakeups}
	time.AfterFunc(ev.gen.cfg.Ready.Timeout, func() { s.send(ev) })
	s.idle.waking = true
}

// onWakeCheck counts a wake that brought no worker up in time. In proxy
// mode the proxy answers its held requests 503 itself and the workers
// go on restarting; in socket mode procmon stops them and answers 503
// for a while (see above).
func (s *Supervisor) onWakeCheck(ev wakeCheck) {
	if ev.gen != s.cur || ev.wake != s.totals.Wakeups || !s.idle.waking || s.stopping || s.next != nil {
		return
	}
	s.idle.waking = false
	if anyReady(s.cur) {
		return
	}
	s.totals.WakeFailures++
	if s.listenFile == nil {
		return
	}
	pause := s.cur.cfg.Ready.Timeout
	s.log.Error("idle: the app was woken for a connection, but no worker was ready within ready.timeout; procmon stops them and answers 503 for another ready.timeout, then the next connection tries again",
		"ready_timeout", pause)
	if _, err := s.scaleTo(0, ScaleFromAutoscale, "no worker ready within ready.timeout after a wake: idle again"); err != nil {
		s.log.Error("idle: workers not stopped", "err", err)
		return
	}
	s.idle.pauseUntil = time.Now().Add(pause)
	time.AfterFunc(pause, func() { s.send(loopProbe{}) }) // a round of the loop ends the pause
	s.answerUnavailableWith(wakeFailedBody)
}

func anyReady(g *generation) bool {
	for _, sl := range g.slots {
		if sl.w != nil && sl.w.state == WorkerReady {
			return true
		}
	}
	return false
}
