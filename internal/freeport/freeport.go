// Package freeport finds a free TCP port on 127.0.0.1 for a server a test
// (or the demo) is about to start: the kernel picks one, the listener is
// closed, and the port is returned for the server to bind. Another process
// could take it in between; on a test machine that is rare enough. This
// process never gets the same port twice: the kernel may hand a port just
// closed out again, and two servers started one after the other (the
// demo's app and its sshd, which got one port in a CI run) must not share.
package freeport

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

var (
	mu    sync.Mutex
	given = map[int]bool{} // every port Port returned
)

// Port returns a free port on 127.0.0.1 that it has not returned before.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	p, err := Except(func(p int) bool { return given[p] })
	if err == nil {
		given[p] = true
	}
	return p, err
}

// Except returns a free port on 127.0.0.1 for which taken is false,
// recording nothing (procmon's workers: a long-lived process must not
// remember every port it ever gave). A port taken says is taken stays
// bound while another is sought, so the kernel cannot offer it again.
func Except(taken func(int) bool) (int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 64 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		if taken(p) {
			held = append(held, l)
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, errors.New("find a free port: the kernel gave only ports already taken")
}

// T is the part of testing.TB that Addr uses (the demo links this package
// without the testing package).
type T interface {
	Helper()
	Fatal(args ...any)
}

// Addr returns "127.0.0.1:<free port>", failing t when there is none.
func Addr(t T) string {
	t.Helper()
	p, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}
