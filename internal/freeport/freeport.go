// Package freeport finds a free TCP port on 127.0.0.1 for a server a test
// (or the demo) is about to start: the kernel picks one, the listener is
// closed, and the port is returned for the server to bind. Another process
// could take it in between; on a test machine that is rare enough.
package freeport

import (
	"fmt"
	"net"
)

// Port returns a free port on 127.0.0.1.
func Port() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
