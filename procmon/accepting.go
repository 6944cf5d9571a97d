package procmon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Socket mode hands every worker the shared listener as fd 3, and only a
// process that takes it (LISTEN_PID is its own pid) serves it. A worker
// counts as accepting on the shared socket when a process of its process
// group holds the socket and either has it in an epoll set (Node, Go,
// Python's asyncio, anything on an event loop: they register it as they
// start to listen) or has a thread blocked in accept, accept4, select or
// poll while holding it (a pre-fork or blocking server). A wrapper that did
// not exec the app (npm start, sh -c without exec) holds the socket and
// waits for its child: that is not accepting, and the error names it.
// This reads /proc, so it needs Linux and the right to read the workers'
// /proc entries (procmon's own children: same user, or root).

// socketInode returns the inode number of the socket f holds.
func socketInode(f *os.File) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat the shared listener: %w", err)
	}
	return st.Ino, nil
}

// holder is a process of a worker's group that holds the shared socket.
type holder struct {
	pid     int
	cmdline string
	fds     []int // its fds that are the socket
}

// acceptCheck reports whether some process in process group pgid accepts
// on the socket with inode ino. When none does, the error says which
// processes hold the socket without accepting, and which do not hold it.
func acceptCheck(pgid int, ino uint64) error {
	pids, err := groupPids(pgid)
	if err != nil {
		return err
	}
	target := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	var holders []holder
	var others []string
	for _, pid := range pids {
		h := holder{pid: pid, cmdline: cmdlineOf(pid)}
		epolls := scanFds(pid, target, &h)
		if len(h.fds) == 0 {
			others = append(others, fmt.Sprintf("%d (%s)", pid, h.cmdline))
			continue
		}
		if inEpoll(pid, epolls, h.fds) || blockedAccepting(pid, h.fds) {
			return nil
		}
		holders = append(holders, h)
	}
	return notAccepting(pgid, holders, others)
}

// notAccepting explains why no process of the group accepts.
func notAccepting(pgid int, holders []holder, others []string) error {
	var b strings.Builder
	b.WriteString("no process of the worker accepts on the shared socket (fd 3)")
	for _, h := range holders {
		fmt.Fprintf(&b, "; pid %d (%s) holds it but does not accept", h.pid, h.cmdline)
	}
	if len(others) > 0 {
		fmt.Fprintf(&b, "; without it: %s", strings.Join(others, ", "))
	}
	if len(holders) > 0 && (len(others) > 0 || holders[0].pid != pgid || len(holders) > 1) {
		fmt.Fprintf(&b, ": LISTEN_PID is %d, so only that process may take the socket, and a wrapper that does not exec the app (npm start, yarn start, sh -c without exec) keeps it from the app", pgid)
	}
	return fmt.Errorf("%s", b.String())
}

// groupPids lists the processes whose process group is pgid.
func groupPids(pgid int) ([]int, error) {
	groups, err := groupsPids(pgid)
	return groups[pgid], err
}

// groupsPids lists the processes of each of the process groups pgids,
// sorted, with one pass over /proc.
func groupsPids(pgids ...int) (map[int][]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	groups := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, ok := pgrpOf(pid); ok && slices.Contains(pgids, g) {
			groups[g] = append(groups[g], pid) // /proc lists pids in order
		}
	}
	for _, pids := range groups {
		slices.Sort(pids)
	}
	return groups, nil
}

// pgrpOf reads a process's group from /proc/<pid>/stat (field 5, after
// the command name, which may hold spaces and parentheses).
func pgrpOf(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0, false
	}
	g, err := strconv.Atoi(f[2])
	return g, err == nil
}

// cmdlineOf is a process's command line, words joined by spaces.
func cmdlineOf(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return "?"
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// scanFds records in h the fds of pid that are the socket target, and
// returns its epoll fds.
func scanFds(pid int, target string, h *holder) (epolls []int) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		switch {
		case err != nil:
		case link == target:
			h.fds = append(h.fds, fd)
		case link == "anon_inode:[eventpoll]":
			epolls = append(epolls, fd)
		}
	}
	return epolls
}

// inEpoll reports whether one of fds is registered in one of pid's epoll
// sets: /proc/<pid>/fdinfo/<epfd> lists them as "tfd: <fd> …" lines.
func inEpoll(pid int, epolls, fds []int) bool {
	for _, ep := range epolls {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "fdinfo", strconv.Itoa(ep)))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "tfd:" {
				if n, err := strconv.Atoi(f[1]); err == nil && slices.Contains(fds, n) {
					return true
				}
			}
		}
	}
	return false
}

// blockedAccepting reports whether a thread of pid is in accept or accept4
// on one of fds, or in select or poll (whose fd sets /proc does not show),
// from /proc/<pid>/task/<tid>/syscall: "<nr> <arg0> …".
func blockedAccepting(pid int, fds []int) bool {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", t.Name(), "syscall"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		nr, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		arg0, _ := strconv.ParseInt(strings.TrimPrefix(f[1], "0x"), 16, 64)
		switch {
		case acceptSyscalls[nr] && slices.Contains(fds, int(arg0)):
			return true
		case waitSyscalls[nr]:
			return true
		}
	}
	return false
}
