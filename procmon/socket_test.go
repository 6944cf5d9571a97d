package procmon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestListenerFileIsNotPolled: the socket kept for socket-mode workers is
// in none of this process's epoll sets (else every connection a worker is
// about to accept wakes procmon), is blocking (what os.NewFile needs to
// leave it out of the poller), and is still the listening socket: a
// connection to the address is accepted through it.
func TestListenerFileIsNotPolled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	f, err := listenerFile(l)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if polled := epollTargets(t); polled[fd] {
		t.Fatalf("fd %d is registered in an epoll set of this process", fd)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || flags&unix.O_NONBLOCK != 0 {
		t.Fatalf("flags %#x, %v: want a blocking descriptor", flags, err)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("fd flags %#x, %v: want close-on-exec (only workers get it, as fd 3)", flags, err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial the shared socket: %v", err)
	}
	defer c.Close()
	nfd, _, err := unix.Accept(fd)
	if err != nil {
		t.Fatalf("accept on the shared socket: %v", err)
	}
	unix.Close(nfd)
}

// epollTargets lists the descriptors registered in this process's epoll
// sets, from /proc/self/fdinfo ("tfd: N" lines).
func epollTargets(t *testing.T) map[int]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	targets := map[int]bool{}
	epolls := 0
	for _, e := range fds {
		link, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if link != "anon_inode:[eventpoll]" {
			continue
		}
		epolls++
		info, _ := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		for _, line := range strings.Split(string(info), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "tfd:" {
				n, _ := strconv.Atoi(f[1])
				targets[n] = true
			}
		}
	}
	if epolls == 0 {
		t.Fatal("found no epoll set in this process; Go's poller should have one")
	}
	return targets
}

// TestWorkerPortNeverAnotherWorkers: a worker's PORT is never one a live
// worker holds or is about to bind, even when the kernel offers it (it
// hands a just-closed port out again): freePortBut keeps asking, holding
// the taken ports meanwhile.
func TestWorkerPortNeverAnotherWorkers(t *testing.T) {
	taken := map[int]bool{}
	asked := 0
	p, err := freePortBut(func(port int) bool {
		asked++
		if asked <= 3 { // the first three the kernel offers are "workers'"
			taken[port] = true
		}
		return taken[port]
	})
	if err != nil {
		t.Fatal(err)
	}
	if asked < 4 || taken[p] {
		t.Fatalf("got port %d after %d offers; taken %v", p, asked, taken)
	}
}

// TestGenerationsWorkersGetTwoPorts: the kernel hands a just-closed port
// out again (3 in 10 000 back-to-back pairs here); when it offers worker 2
// of a generation being started the port worker 1 was just given, worker 2
// gets another. A CI run of the demo failed on this: the generation's
// workers were checked against the running generations only, and worker 2
// died with EADDRINUSE on worker 1's port.
func TestGenerationsWorkersGetTwoPorts(t *testing.T) {
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	q, err := freePortBut(func(port int) bool { return port == p })
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var offered []int
	// The kernel stand-in offers p, and q only when p is refused.
	kernel := func(taken func(int) bool) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, port := range []int{p, q} {
			offered = append(offered, port)
			if !taken(port) {
				return port, nil
			}
		}
		return 0, fmt.Errorf("ports %d and %d both taken", p, q)
	}
	a := newTestApp(t, appSpec{workers: 2, offerPort: kernel}).start()
	st := a.waitStatus(10*time.Second, "2 ready workers", func(st Status) bool { r, _ := servingWorkers(st); return r == 2 })
	ports := map[int]bool{}
	for _, w := range st.Workers {
		if w.State == WorkerReady {
			ports[w.Port] = true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !ports[p] || !ports[q] || !slices.Equal(offered, []int{p, p, q}) {
		t.Fatalf("workers' ports %v, want %d and %d; offered %v, want %d, %d (refused: worker 1 has it), %d: "+
			"more offers mean a worker was given a port in use, died and was restarted", ports, p, q, offered, p, p, q)
	}
}
