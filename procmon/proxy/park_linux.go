//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// An idle keep-alive connection's goroutine, its stack above all, is most
// of what the connection costs. A connection idle for parkAfter is
// parked instead: registered in an epoll set of the Server's own, its
// goroutine ends, and a new one serves it when the client sends its next
// request or closes. idle_timeout still holds: a timer closes a parked
// connection when it runs out, and a shutdown closes parked connections
// as it closes idle ones. A client busier than parkAfter never parks, so
// that it pays no epoll_ctl nor goroutine start per request.

// parkAfter is how long a keep-alive connection waits for its next
// request on its goroutine before it is parked.
const parkAfter = 250 * time.Millisecond

// errParked: the connection was parked, its goroutine must end without
// touching it (another one may already serve it).
var errParked = errors.New("connection parked")

// parker is a Server's epoll set of parked connections, and the goroutine
// that waits on it.
type parker struct {
	s    *Server
	epfd int
	wake int // an eventfd in the set (key 0): Close writes it to end the loop

	mu     sync.Mutex
	next   uint64
	conns  map[uint64]*serverConn // key in the epoll set → the parked connection
	closed bool
}

// newParker makes the epoll set and starts its loop; it returns nil, and
// the connections stay on their goroutines, when the kernel refuses.
func newParker(s *Server) *parker {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		s.log.Warn("proxy: idle connections keep their goroutines", "err", fmt.Errorf("epoll_create1: %w", err))
		return nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err == nil {
		err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN})
	}
	if err != nil {
		s.log.Warn("proxy: idle connections keep their goroutines", "err", fmt.Errorf("eventfd: %w", err))
		unix.Close(epfd)
		if wake >= 0 {
			unix.Close(wake)
		}
		return nil
	}
	p := &parker{s: s, epfd: epfd, wake: wake, conns: map[uint64]*serverConn{}}
	go p.loop()
	return p
}

// park registers c, idle until deadline, and reports whether it is
// parked: then its goroutine must end at once.
func (p *parker) park(c *serverConn, deadline time.Time) bool {
	if p == nil {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.s.closing.Load() {
		return false
	}
	p.next++
	key := p.next
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(key), Pad: int32(key >> 32)}
	cerr := rc.Control(func(fd uintptr) { err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) })
	if cerr != nil || err != nil {
		return false
	}
	c.parkKey = key
	c.parkTimer = time.AfterFunc(time.Until(deadline), func() { p.expire(key) })
	p.conns[key] = c
	return true
}

// take unparks c if it is parked, for its caller to close; it reports
// whether it was. The Server's lock may be held.
func (p *parker) take(c *serverConn) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.parkKey == 0 || p.conns[c.parkKey] != c {
		return false
	}
	p.forget(c)
	return true
}

// unpark takes the connection of key out of the set, if it is still
// parked.
func (p *parker) unpark(key uint64) *serverConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.conns[key]
	if c != nil {
		p.forget(c)
	}
	return c
}

// forget takes the parked c out of the set; p.mu held (the set's fd is
// closed under it: a closed number may be another set's by now).
func (p *parker) forget(c *serverConn) {
	delete(p.conns, c.parkKey)
	c.parkTimer.Stop()
	if p.epfd < 0 {
		return
	}
	if rc, err := c.nc.(syscall.Conn).SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
}

// expire closes a connection still parked when its idle_timeout ran out.
func (p *parker) expire(key uint64) {
	if c := p.unpark(key); c != nil {
		c.nc.Close()
		p.s.untrack(c)
	}
}

// loop serves the parked connections the client woke, until Close.
func (p *parker) loop() {
	defer func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		unix.Close(p.epfd)
		unix.Close(p.wake)
		p.epfd, p.closed = -1, true
	}()
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.s.log.Error("proxy: epoll_wait on parked connections failed; they are closed at their idle timeout", "err", err)
			return
		}
		for _, ev := range events[:n] {
			key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if key == 0 {
				return
			}
			if c := p.unpark(key); c != nil {
				go c.serve(true)
			}
		}
	}
}

// Close ends the loop; connections parked by then are the Server's to
// close (take).
func (p *parker) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	unix.Write(p.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
}
