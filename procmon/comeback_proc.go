package procmon

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// What comebackCheck reads from /proc about a worker's threads, its memory
// and its connections.

// taskCall is what one thread was doing, from
// /proc/<pid>/task/<tid>/syscall: "running" (on a CPU, or ready to run),
// or blocked in syscall nr with its arguments.
type taskCall struct {
	running bool
	nr      int // -1: blocked outside a syscall (a page fault)
	args    [6]uint64
}

// taskCalls reads what every thread of pid is doing; false when pid is
// gone or cannot be read.
func taskCalls(pid int) ([]taskCall, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	calls := make([]taskCall, 0, len(tasks))
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "syscall"))
		if err != nil {
			continue // the thread exited
		}
		if c, ok := parseTaskCall(string(b)); ok {
			calls = append(calls, c)
		}
	}
	return calls, len(calls) > 0
}

// processStopped reports whether pid is stopped (state T, or t under a
// debugger), from /proc/<pid>/stat: "pid (comm) state …".
func processStopped(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] == 'T' || s[i+2] == 't'
}

// ioCalls is how many read and write calls pid made: syscr + syscw of
// /proc/<pid>/io.
func ioCalls(pid int) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "io"))
	if err != nil {
		return 0, false
	}
	var n uint64
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok && (k == "syscr" || k == "syscw") {
			c, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, false
			}
			n += c
			found++
		}
	}
	return n, found == 2
}

// parseTaskCall parses a syscall file: "running", "-1 <sp> <pc>", or
// "<nr> <arg0> … <arg5> <sp> <pc>" with the arguments in hex.
func parseTaskCall(s string) (taskCall, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return taskCall{}, false
	}
	if f[0] == "running" {
		return taskCall{running: true}, true
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return taskCall{}, false
	}
	c := taskCall{nr: nr}
	if nr < 0 {
		return c, true
	}
	if len(f) < 7 {
		return taskCall{}, false
	}
	for i := range c.args {
		v, err := strconv.ParseUint(strings.TrimPrefix(f[1+i], "0x"), 16, 64)
		if err != nil {
			return taskCall{}, false
		}
		c.args[i] = v
	}
	return c, true
}

// summarize says what threads were doing, most common first: "running",
// "running ×2, futex ×6", "clock_nanosleep".
func summarize(calls []taskCall) string {
	counts := map[string]int{}
	var names []string
	for _, c := range calls {
		n := callName(c)
		if counts[n] == 0 {
			names = append(names, n)
		}
		counts[n]++
	}
	slices.SortStableFunc(names, func(a, b string) int { return counts[b] - counts[a] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n
		if counts[n] > 1 {
			parts[i] += fmt.Sprintf(" ×%d", counts[n])
		}
	}
	return strings.Join(parts, ", ")
}

// callName names the calls a hung worker is usually found in.
func callName(c taskCall) string {
	switch {
	case c.running:
		return "running"
	case c.nr < 0:
		return "blocked"
	case acceptSyscalls[c.nr]:
		return "accept"
	case epollWaitSyscalls[c.nr]:
		return "epoll_wait"
	case pollSyscalls[c.nr]:
		return "poll"
	case selectSyscalls[c.nr]:
		return "select"
	case ioSyscalls[c.nr]:
		return "read/write"
	case c.nr == unix.SYS_FUTEX:
		return "futex"
	case c.nr == unix.SYS_CLOCK_NANOSLEEP || c.nr == unix.SYS_NANOSLEEP:
		return "sleep"
	}
	return "syscall " + strconv.Itoa(c.nr)
}

// maxPollFds bounds how much of a poll array is read.
const maxPollFds = 1 << 14

// pollWatches reports whether the pollfd array of n entries at addr in
// pid's memory asks for input on one of fds. An array that cannot be read
// counts as asking: the check errs towards a pass.
func pollWatches(pid int, addr, n uint64, fds []int) bool {
	if n == 0 || addr == 0 {
		return false
	}
	b, ok := readMem(pid, addr, int(min(n, maxPollFds))*8) // struct pollfd {int fd; short events, revents;}
	if !ok {
		return true
	}
	const pollIn = 0x1
	for i := 0; i+8 <= len(b); i += 8 {
		fd := int(int32(binary.LittleEndian.Uint32(b[i:])))
		if binary.LittleEndian.Uint16(b[i+4:])&pollIn != 0 && slices.Contains(fds, fd) {
			return true
		}
	}
	return false
}

// selectWatches reports whether the read set at addr of a select over
// nfds descriptors in pid's memory holds one of fds (an fd_set is a bit
// array: bit fd%8 of byte fd/8, on the little-endian architectures this
// check runs on). A set that cannot be read counts as holding one.
func selectWatches(pid int, nfds, addr uint64, fds []int) bool {
	if addr == 0 {
		return false
	}
	for _, fd := range fds {
		if uint64(fd) >= nfds {
			continue
		}
		b, ok := readMem(pid, addr+uint64(fd/8), 1)
		if !ok || b[0]&(1<<(fd%8)) != 0 {
			return true
		}
	}
	return false
}

// readMem reads n bytes at addr of pid's memory.
func readMem(pid int, addr uint64, n int) ([]byte, bool) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "mem"))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, int64(addr)); err != nil {
		return nil, false
	}
	return b, true
}
