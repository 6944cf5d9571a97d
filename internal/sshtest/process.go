package sshtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sessionGrace is how long session processes get to exit on SIGTERM
// before SIGKILL: enough for shell EXIT traps to release their locks (a
// login rc file killed mid-way can leave a stale lock that hangs every
// later login on the machine).
const sessionGrace = 3 * time.Second

// stopSessions ends the processes sshd forked for connections: SIGTERM,
// then SIGKILL for those still there after sessionGrace.
func stopSessions(sshdPid int) {
	procs := descendants(sshdPid)
	for _, p := range procs {
		_ = syscall.Kill(p.pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(sessionGrace)
	for _, p := range procs {
		for p.alive() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if p.alive() {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// proc is a process seen in /proc: its pid and start time, so a reused pid
// is never mistaken for it.
type proc struct {
	pid, ppid int
	start     string
	state     string
}

// readProc parses /proc/<pid>/stat.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return proc{}, false
	}
	// The command name is parenthesised and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return proc{}, false
	}
	return proc{pid: pid, ppid: ppid, state: f[0], start: f[19]}, true
}

// alive reports whether p still runs (a zombie, or another process that
// got its pid, counts as gone).
func (p proc) alive() bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start && now.state != "Z"
}

// descendants lists the processes whose ancestry leads to pid.
func descendants(pid int) []proc {
	children := map[int][]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(n); ok {
			children[p.ppid] = append(children[p.ppid], p)
		}
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}
