package procmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// In socket mode no request can be sent to a chosen worker: the kernel
// hands each connection on the shared socket to whichever worker accepts
// first, and a hung worker, accepting nothing, gets none. So the heartbeat
// watches each worker instead, from /proc: a live worker, idle or busy,
// keeps coming back to the shared socket for the next connection; a worker
// stuck in a handler (a busy loop, a sleep, a deadlock, a call that never
// returns, a stalled event loop) never does. comebackCheck samples the
// threads of the worker's process group every comebackEvery, for up to
// heartbeat.timeout, and the worker passes at the first sample that shows
// one of:
//
//   - a thread waiting for a connection on the shared socket: blocked in
//     accept or accept4 on it, in epoll_wait on an epoll set that has it
//     registered for input (Node, Go, asyncio, any event loop), or in
//     poll or select with it among the fds it reads (the fd lists are read
//     from /proc/<pid>/mem; Python's socketserver, gunicorn's sync
//     workers);
//   - a thread blocked reading from or writing to a socket the worker did
//     not hold at the first sample, or such a socket in its fd table: it
//     took a connection while it was watched (a single-threaded worker
//     busy with one client after another is seldom seen waiting on the
//     shared socket, but its connections keep changing). A call blocked on
//     a socket it held all along (a database, an upstream that never
//     answers, one keep-alive client) does not count;
//   - read and write calls made (the kernel counts read, readv, write,
//     writev and the like per process in /proc/<pid>/io, though not recv
//     or send): an event loop so busy with the connections it has that it
//     never waits (Node overloaded by keep-alive clients) still reads and
//     writes them; a stuck one does not.
//
// A worker seen doing none of these for the whole timeout failed the
// check. So does a worker stuck in a loop that keeps reading, writing or
// opening connections (a retry loop that logs each try): to /proc it looks
// like work, and it is not replaced. A stopped process (SIGSTOP, a debugger) shows its threads blocked
// where they were, but accepts nothing: it counts as doing none of them. Reading /proc/<pid>/task/*/syscall and /proc/<pid>/mem needs the
// right to trace the worker: procmon runs as root, or as the workers' user
// and is their parent. Where poll's or select's fd list cannot be read,
// such a wait counts as waiting on the socket (a false pass, never a false
// failure).

// comebackEvery is the pause between two samples of a worker's threads.
const comebackEvery = 10 * time.Millisecond

// sharedSocket is socket mode's listening socket, as /proc shows it.
type sharedSocket struct {
	ino  uint64   // /proc/<pid>/fd links to it read socket:[ino]
	port int      // its local port, which connections taken from it share
	file *os.File // procmon's own descriptor of it (nil in tests of /proc alone)
}

// acceptQueue is how many connections wait in the socket's accept queue
// (TCP_INFO's tcpi_unacked on a listening socket is its backlog).
func (sock sharedSocket) acceptQueue() (int, error) {
	if sock.file == nil {
		return 0, errors.New("no descriptor of the shared socket")
	}
	rc, err := sock.file.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) { info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return int(info.Unacked), nil
}

// comebackSupported says whether this system lets comebackCheck tell what
// a worker's threads wait for: Linux, with the calls listed for this
// architecture, and a readable /proc/<pid>/task/<tid>/syscall.
func comebackSupported() bool {
	if len(epollWaitSyscalls) == 0 || len(acceptSyscalls) == 0 {
		return false
	}
	_, err := os.ReadFile("/proc/thread-self/syscall")
	return err == nil
}

// comebackCheck watches process group pgid for up to timeout and returns
// nil as soon as a sample shows it live (see above), or an error saying
// what its threads were doing instead.
func comebackCheck(ctx context.Context, pgid int, sock sharedSocket, timeout time.Duration) error {
	pids, err := groupPids(pgid)
	if err != nil {
		return err
	}
	if len(pids) == 0 {
		return fmt.Errorf("process group %d is gone", pgid)
	}
	w := &groupWatch{sock: sock, target: "socket:[" + strconv.FormatUint(sock.ino, 10) + "]", listeners: map[int][]int{}}
	for _, pid := range pids {
		w.listeners[pid] = listenerFds(pid, w.target)
	}
	deadline := time.Now().Add(timeout)
	t := time.NewTimer(0)
	defer t.Stop()
	last := "no sample"
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		why, seen := w.sample(pids)
		if why != "" {
			return nil
		}
		last = seen
		if !time.Now().Before(deadline) {
			return fmt.Errorf("not back on the shared socket within %s: no thread waited for a connection or served one (last seen: %s)", timeout, last)
		}
		t.Reset(min(comebackEvery, time.Until(deadline)))
	}
}

// progressEvery bounds how often comebackCheck lists a worker's sockets
// and reads its I/O counts.
const progressEvery = 100 * time.Millisecond

// groupWatch is one comebackCheck's view of a worker's process group.
type groupWatch struct {
	sock      sharedSocket
	target    string          // "socket:[ino]"
	listeners map[int][]int   // pid → its fds that are the shared socket
	held      map[uint64]bool // the group's sockets at the first sample that did not show it live
	io        map[int]uint64  // pid → its read and write calls then
	scanned   time.Time
}

// sample looks once at every thread of the group. It returns why the
// worker is live ("" when no thread shows it), and what the threads were
// doing ("4711: running, futex ×6") for the error when none ever does.
func (w *groupWatch) sample(pids []int) (why, seen string) {
	var parts []string
	for _, pid := range pids {
		if processStopped(pid) { // SIGSTOP, or a debugger: its threads look blocked where they were
			parts = append(parts, strconv.Itoa(pid)+": stopped")
			continue
		}
		calls, ok := taskCalls(pid)
		if !ok {
			continue
		}
		for _, c := range calls {
			if c.running {
				continue
			}
			if why := w.waitsOrServes(pid, c); why != "" {
				return why, ""
			}
		}
		parts = append(parts, strconv.Itoa(pid)+": "+summarize(calls))
	}
	if len(parts) == 0 {
		return "", "no process of the group could be read"
	}
	if why := w.progress(pids); why != "" {
		return why, ""
	}
	return "", strings.Join(parts, "; ")
}

// progress looks, at most every progressEvery, at what the group did since
// the first look (which only records it): a socket it did not hold then,
// or more read and write calls. It says which, or "".
func (w *groupWatch) progress(pids []int) string {
	if time.Since(w.scanned) < progressEvery {
		return ""
	}
	w.scanned = time.Now()
	first := w.held == nil
	if first {
		w.held, w.io = map[uint64]bool{}, map[int]uint64{}
	}
	for _, pid := range pids {
		if n, ok := ioCalls(pid); ok {
			if before, seen := w.io[pid]; !first && seen && n > before {
				return "reading and writing"
			}
			w.io[pid] = n
		}
		for _, ino := range socketInodes(pid) {
			if !first && !w.held[ino] && ino != w.sock.ino {
				return "took a connection"
			}
			w.held[ino] = true
		}
	}
	return ""
}

// waitsOrServes says why the blocked call c of a thread of pid shows the
// worker live: it waits for a connection on the shared socket, or on a
// socket that is new since the group's sockets were first listed; "" when
// it does neither.
func (w *groupWatch) waitsOrServes(pid int, c taskCall) string {
	fds := w.listeners[pid]
	var ok bool
	switch {
	case acceptSyscalls[c.nr]:
		ok = slices.Contains(fds, int(c.args[0]))
	case epollWaitSyscalls[c.nr]:
		ok = epollWatches(pid, int(c.args[0]), fds)
	case pollSyscalls[c.nr]:
		ok = len(fds) > 0 && pollWatches(pid, c.args[0], c.args[1], fds)
	case selectSyscalls[c.nr]:
		ok = len(fds) > 0 && selectWatches(pid, c.args[0], c.args[1], fds)
	case ioSyscalls[c.nr]:
		if ino, sock := socketOf(pid, int(c.args[0])); sock && w.held != nil && !w.held[ino] && ino != w.sock.ino {
			return "serving a new connection"
		}
		return ""
	}
	if ok {
		return "waiting in " + callName(c)
	}
	return ""
}

// listenerFds lists pid's fds that are the socket target ("socket:[ino]").
func listenerFds(pid int, target string) []int {
	var h holder
	scanFds(pid, target, &h)
	return h.fds
}

// socketInodes lists the inodes of the sockets pid holds.
func socketInodes(pid int) []uint64 {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var inos []uint64
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			if ino, ok := socketOf(pid, fd); ok {
				inos = append(inos, ino)
			}
		}
	}
	return inos
}

// socketOf returns the inode of the socket that is fd of pid.
func socketOf(pid, fd int) (uint64, bool) {
	link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", strconv.Itoa(fd)))
	if err != nil || !strings.HasPrefix(link, "socket:[") {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
	return ino, err == nil
}

// epollWatches reports whether epoll set epfd of pid has one of fds
// registered for input: /proc/<pid>/fdinfo/<epfd> lists the set as
// "tfd: <fd> events: <hex mask> …" lines.
func epollWatches(pid, epfd int, fds []int) bool {
	if len(fds) == 0 {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "fdinfo", strconv.Itoa(epfd)))
	if err != nil {
		return false
	}
	const epollIn = 0x1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "tfd:" || f[2] != "events:" {
			continue
		}
		fd, err1 := strconv.Atoi(f[1])
		ev, err2 := strconv.ParseUint(f[3], 16, 32)
		if err1 == nil && err2 == nil && ev&epollIn != 0 && slices.Contains(fds, fd) {
			return true
		}
	}
	return false
}
