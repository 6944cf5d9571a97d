package procmon

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// An app that ignores $PORT (app.listen(3000), a framework's default
// port, a server that binds ::1 only) never passes a ready check on
// 127.0.0.1:$PORT, and with two workers the second dies of "address
// already in use". All the user saw was "not ready within ready.timeout
// (last check: … connection refused)" or "exited with status 1 before it
// was ready". Heroku names the cause ("failed to bind to $PORT within 60
// seconds of launch"); procmon looks at the worker's sockets and says
// where it does listen.

// portHint says why a worker whose process group is pgid cannot be
// reached on 127.0.0.1:port, its PORT, from what its processes listen on:
// another port, or the right port on an address 127.0.0.1 does not reach.
// It is "" when one of them listens where procmon connects, or nothing
// can be read; with quiet, also when they listen on no TCP port at all
// (a worker still booting: not a fault by itself).
func portHint(pgid, port int, quiet bool) string {
	addrs, err := listening(pgid)
	if err != nil {
		return ""
	}
	return hintFor(addrs, port, quiet)
}

// hintFor is portHint for the addresses a worker's processes listen on.
func hintFor(addrs []*net.TCPAddr, port int, quiet bool) string {
	var sameElsewhere []string
	for _, a := range addrs {
		if a.Port != port {
			continue
		}
		if reachesLoopback(a.IP) {
			return ""
		}
		sameElsewhere = append(sameElsewhere, a.String())
	}
	switch {
	case len(sameElsewhere) > 0:
		return fmt.Sprintf("it listens on %s, which 127.0.0.1:%d does not reach: make the app listen on 127.0.0.1 or on all addresses (0.0.0.0)",
			strings.Join(sameElsewhere, ", "), port)
	case len(addrs) > 0:
		list := make([]string, len(addrs))
		for i, a := range addrs {
			list[i] = a.String()
		}
		return fmt.Sprintf("it listens on %s, not on its PORT (%d): the app must listen on the port procmon gives each worker in $PORT (Node: app.listen(process.env.PORT); Python: int(os.environ[\"PORT\"])), as on Heroku; procmon's own listen address is the public one",
			strings.Join(list, ", "), port)
	case !quiet:
		return fmt.Sprintf("no process of the worker listens on any TCP port yet: the app must listen on 127.0.0.1:$PORT (%d) within ready.timeout (raise it for an app that starts slowly)", port)
	}
	return ""
}

// reachesLoopback says whether a socket bound to ip takes connections to
// 127.0.0.1: 127.0.0.1 itself, or all addresses (0.0.0.0; :: unless the
// socket is IPv6-only, which /proc does not show: Linux's default,
// bindv6only=0, is dual-stack).
func reachesLoopback(ip net.IP) bool {
	return ip.IsUnspecified() || ip.Equal(net.IPv4(127, 0, 0, 1))
}

// listening returns the TCP addresses the processes of group pgid
// listen on, sorted and without repeats: the inodes of their sockets
// (/proc/<pid>/fd), looked up in the TCP tables of their network
// namespace (/proc/<pid>/net/tcp and tcp6 of one of them, state 0A:
// LISTEN).
func listening(pgid int) ([]*net.TCPAddr, error) {
	pids, err := groupPids(pgid)
	if err != nil || len(pids) == 0 {
		return nil, err
	}
	return listenTableOf(pids[0]).of(pids), nil
}

// listenTable is the LISTEN sockets of a network namespace, by inode.
type listenTable map[string]*net.TCPAddr

// listenTableOf reads the TCP tables of pid's network namespace.
func listenTableOf(pid int) listenTable {
	t := listenTable{}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "net", table))
		if err != nil {
			continue // no IPv6 in the kernel
		}
		parseListen(string(b), t)
	}
	return t
}

// of returns the addresses that the processes pids listen on, sorted and
// without repeats.
func (t listenTable) of(pids []int) []*net.TCPAddr {
	var addrs []*net.TCPAddr
	seen := map[string]bool{}
	for _, pid := range pids {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			link, err := os.Readlink(filepath.Join(dir, e.Name()))
			ino, ok := strings.CutPrefix(link, "socket:[")
			if a := t[strings.TrimSuffix(ino, "]")]; err == nil && ok && a != nil && !seen[a.String()] {
				seen[a.String()] = true
				addrs = append(addrs, a)
			}
		}
	}
	slices.SortFunc(addrs, func(a, b *net.TCPAddr) int { return strings.Compare(a.String(), b.String()) })
	return addrs
}

// parseListen reads a /proc/net/tcp or tcp6 table into t: the local
// address of each LISTEN socket, by inode.
func parseListen(table string, t listenTable) {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		if a := procAddr(f[1]); a != nil {
			t[f[9]] = a
		}
	}
}

// procAddr decodes /proc/net/tcp's "0100007F:0BB8": the address as 32-bit
// words printed as the host reads them (127.0.0.1 is 0100007F on a
// little-endian machine), the port in hex.
func procAddr(s string) *net.TCPAddr {
	host, port, ok := strings.Cut(s, ":")
	p, err := strconv.ParseUint(port, 16, 16)
	if !ok || err != nil || (len(host) != 8 && len(host) != 32) {
		return nil
	}
	ip := make(net.IP, len(host)/2)
	for i := 0; i < len(host); i += 8 {
		w, err := strconv.ParseUint(host[i:i+8], 16, 32)
		if err != nil {
			return nil
		}
		binary.NativeEndian.PutUint32(ip[i/2:], uint32(w))
	}
	return &net.TCPAddr{IP: ip, Port: int(p)}
}

// portHints is what an abandoned generation's workers that still run
// tell of its failure: "; worker N: <portHint>" for each that listens
// somewhere procmon does not connect (an app that ignores $PORT: its
// second worker died of "address already in use" while the first
// listens on the app's own port), unless reason says it already.
func portHints(g *generation, reason string) string {
	if g == nil {
		return ""
	}
	var live []*worker
	var pgids []int
	for _, sl := range g.slots {
		if w := sl.w; w != nil && w.port != 0 && w.pid != 0 && w.state != WorkerExited {
			live, pgids = append(live, w), append(pgids, w.pid)
		}
	}
	if len(live) == 0 {
		return ""
	}
	groups, err := groupsPids(pgids...) // one pass over /proc for them all
	if err != nil {
		return ""
	}
	var t listenTable
	var b strings.Builder
	for _, w := range live {
		pids := groups[w.pid]
		if len(pids) == 0 {
			continue
		}
		if t == nil {
			t = listenTableOf(pids[0]) // the workers share procmon's network namespace
		}
		if h := hintFor(t.of(pids), w.port, true); h != "" && !strings.Contains(reason, h) {
			fmt.Fprintf(&b, "; worker %d: %s", w.id, h)
		}
	}
	return b.String()
}

// inUseHint is what a failed generation's last output lines (tail) tell
// when a worker could not bind ("address already in use": Node's
// EADDRINUSE, Go's and Python's bind errors, gunicorn's "Connection in
// use"), unless reason says where a worker listens already (portHints).
// No worker listens then, so /proc has nothing to show: the app's own
// words are the evidence. Most often the app listens on a fixed port,
// and that port is procmon's own (a pm2 app keeping app.listen(3000)
// behind a procmon that took over port 3000): the hint names it.
func inUseHint(tail []string, listen string, mode Mode, reason string) string {
	if strings.Contains(reason, "it listens on ") {
		return ""
	}
	inUse := false
	for _, l := range tail {
		l = strings.ToLower(l)
		inUse = inUse || strings.Contains(l, "address already in use") || strings.Contains(l, "eaddrinuse") || strings.Contains(l, "connection in use")
	}
	if !inUse {
		return ""
	}
	how := "the port procmon gives each worker in $PORT (Node: app.listen(process.env.PORT))"
	if mode == ModeSocket {
		how = "the socket procmon passes each worker as fd 3 (LISTEN_FDS=1, as systemd does)"
	}
	// the port may be on another line than the words (Node prints it in
	// its error's message and its fields; Python in the traceback's bind)
	if _, port, err := net.SplitHostPort(listen); err == nil {
		for _, l := range tail {
			_, said, found := strings.Cut(l, " | ") // after the stamp, gen, worker and pid
			if !found {
				said = l
			}
			if mentionsPort(said, port) {
				return fmt.Sprintf("; its output says \"address already in use\" for port %s, procmon's own listen address (%s): the app must listen on %s, not on a fixed port", port, listen, how)
			}
		}
	}
	return fmt.Sprintf("; its output says \"address already in use\": if the app listens on a fixed port, it must listen on %s instead", how)
}

// mentionsPort says whether port appears in line as a number of its own
// (":3000", " 3000)", "port 3000"), not inside a longer one.
func mentionsPort(line, port string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], port)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(port)
		if (j == 0 || !isDigit(line[j-1])) && (end == len(line) || !isDigit(line[end])) {
			return true
		}
		i = j + 1
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
