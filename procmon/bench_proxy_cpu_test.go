package procmon

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkProxyCPU: what one keep-alive request through procmon's proxy
// costs procmon, for the 1 ms worker: CPU time, and read syscalls (from
// /proc/PID/io, a count that other load does not move). One short run
// (1 s warm-up, 5 s measured), meant to be alternated between two builds
// with PROCMON_BENCH_BINARY, as in BENCHMARKS.md's A/B against a055dc6:
// CPU per request moves with the machine's other load far less than
// throughput ratios do, and the read count not at all.
func BenchmarkProxyCPU(b *testing.B) {
	e := newBenchEnv(b)
	sc := throughputScenarios()[1] // 1ms
	addr, cmd, stop := e.startProcmon(ModeProxy, 1, sc.knobs)
	defer stop()
	pid := cmd.Process.Pid
	url := "http://" + addr + "/"
	runWrk(b, url, time.Second, false)
	tested := func() []int { return withDescendants(pid) }
	cpu0, all0, reads0 := procCPU(pid), pidsCPU(tested()), procReads(pid)
	r, others := e.wrkBeside(url, 5*time.Second, false, tested)
	cpu, all, reads := procCPU(pid)-cpu0, pidsCPU(tested())-all0, procReads(pid)-reads0
	if r.failed > 0 || r.requests == 0 {
		b.Fatalf("%d requests, %d failed", r.requests, r.failed)
	}
	n := float64(r.requests)
	fmt.Printf("\nproxy, 1 ms worker, keep-alive: %.0f req/s, procmon %.1f µs CPU and %.2f reads per request, worker %.1f µs, other load %.2f cores\n",
		r.rps, float64(cpu.Nanoseconds())/1e3/n, float64(reads)/n, float64((all-cpu).Nanoseconds())/1e3/n, others)
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/n, "procmon-CPU-us/req")
	b.ReportMetric(float64(reads)/n, "procmon-reads/req")
	b.ReportMetric(others, "other-load-cores")
}

// procReads is the read syscalls pid made so far (syscr in /proc/PID/io).
func procReads(pid int) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
