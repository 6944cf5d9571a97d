package procmon

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/deploytool/deploy/internal/nginxtest"
)

// The nginx yardstick: BenchmarkThroughput puts nginx, set up as a good
// production reverse proxy (internal/nginxtest), in front of the same
// worker it measures procmon against, so that procmon's proxy/direct
// ratio can be read next to the best-known proxy's on the same machine in
// the same run. The
// readers of /proc that measure it (and the other processes under test)
// are at the end.

// nginxPath is the nginx binary, or "" when there is none.
func nginxPath() string { return nginxtest.Path() }

// nginxProxy is a running nginx (internal/nginxtest: the same reverse
// proxy setup the proxy's conformance test compares procmon with).
type nginxProxy struct {
	*nginxtest.Proxy
	addr string
}

// startNginx runs nginx (the binary at bin) as a reverse proxy to the
// worker at upstream, and waits until it answers 200 through it.
func (e *benchEnv) startNginx(bin, upstream string) *nginxProxy {
	return e.startNginxConns(bin, upstream, 1024)
}

// startNginxConns is startNginx with room for conns connections.
func (e *benchEnv) startNginxConns(bin, upstream string, conns int) *nginxProxy {
	p := nginxtest.Start(e.b, nginxtest.Options{Bin: bin, Upstream: upstream, Dir: e.root, Conns: conns})
	return &nginxProxy{Proxy: p, addr: p.Addr}
}

// pids lists the processes of nginx's group: the master and its worker.
func (n *nginxProxy) pids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if fields := procStat(pid); len(fields) > 2 && fields[2] == strconv.Itoa(n.PID()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stop stops nginx (gracefully, then by force after 10 s).
func (n *nginxProxy) stop() { n.Stop() }

// rssKB reads VmRSS or VmHWM (peak) of a process, in kB.
func rssKB(pid int, field string) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// procCPU is a process's user plus system CPU time so far, from
// /proc/<pid>/stat (in clock ticks of 1/100 s on Linux).
func procCPU(pid int) time.Duration {
	fields := procStat(pid)
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// pidsCPU is the CPU time the processes pids used so far.
func pidsCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		sum += procCPU(pid)
	}
	return sum
}

// withDescendants is pid and the processes below it (procmon's workers).
func withDescendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			if fields := procStat(p); len(fields) > 1 {
				parent[p], _ = strconv.Atoi(fields[1])
			}
		}
	}
	pids := []int{pid}
	for i := 0; i < len(pids); i++ {
		for p, pp := range parent {
			if pp == pids[i] {
				pids = append(pids, p)
			}
		}
	}
	return pids
}

// machineBusy is the CPU time all cores spent busy (user, nice, system,
// irq, softirq) or lost to other guests (steal) since boot, from
// /proc/stat. Interrupts count because a process's CPU time includes the
// softirq work (loopback networking) done in its context.
func machineBusy() time.Duration {
	data, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal
	ticks := 0
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(fields) {
			n, _ := strconv.Atoi(fields[i])
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procStat is the fields of /proc/<pid>/stat after the command name (which
// may hold spaces): [0] is the state, [1] the parent, [2] the process group, [11] and [12]
// the user and system CPU time in clock ticks.
func procStat(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}
