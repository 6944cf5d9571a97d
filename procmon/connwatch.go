package procmon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// In socket mode the kernel hands connections to the workers: procmon
// sees no request, so it cannot count them as the proxy does. What it can
// see is the connections themselves, in /proc/net/tcp and tcp6: the
// sockets on the listen port other than the listener. connWatch samples
// them for workers = "0..N": an app is active while a connection is open
// on its port, or when a sample finds one that the previous did not (a
// connection the server closed first stays in TIME_WAIT for a minute, so
// even short ones are seen). A connection opened and closed by the client
// entirely between two samples can be missed; the samples come every
// tenth of idle_timeout (at most every second), so an app with any steady
// traffic is seen, and one that is missed only sleeps early and wakes on
// its next connection.

// TCP states in /proc/net/tcp (include/net/tcp_states.h).
const (
	tcpEstablished = "01"
	tcpSynRecv     = "03"
	tcpListen      = "0A"
)

// connWatch is the loop's sampler of the connections on one port.
type connWatch struct {
	port  int
	files []string        // /proc/net/tcp, /proc/net/tcp6
	seen  map[string]bool // the connections of the last sample (local and remote address)
	// Events counts the connections seen new by a sample: a count that
	// does not move means no new connection.
	events uint64
}

func newConnWatch(port int) *connWatch {
	return &connWatch{port: port, files: []string{"/proc/net/tcp", "/proc/net/tcp6"}, seen: map[string]bool{}}
}

// sample reads the tables: it adds the connections not seen at the last
// sample to events and returns how many are open (established, or
// waiting to be accepted).
func (c *connWatch) sample() (open int, err error) {
	now := map[string]bool{}
	read := 0
	for _, path := range c.files {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return 0, fmt.Errorf("connections on port %d: %w", c.port, err)
		}
		n, err := c.scan(f, now)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("connections on port %d: %s: %w", c.port, path, err)
		}
		open += n
		read++
	}
	if read == 0 {
		return 0, fmt.Errorf("connections on port %d: no /proc/net/tcp", c.port)
	}
	for k := range now {
		if !c.seen[k] {
			c.events++
		}
	}
	c.seen = now
	return open, nil
}

// scan reads one table, adding the port's connections to now; it
// returns how many of them are open.
func (c *connWatch) scan(r io.Reader, now map[string]bool) (open int, err error) {
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		local, remote, state := f[1], f[2], f[3]
		_, hexPort, ok := strings.Cut(local, ":")
		if !ok || state == tcpListen {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(p) != c.port {
			continue
		}
		now[local+" "+remote] = true
		if state == tcpEstablished || state == tcpSynRecv {
			open++
		}
	}
	return open, sc.Err()
}
