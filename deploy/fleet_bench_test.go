package deploy

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkFleet measures the wall time of a one-commit fleet deploy to 1,
// 5, 10 and 20 loopback sshd hosts, each in its own mount namespace with
// its own disk and a clean home, over the real SSH client. Each size's
// time is reported as a ratio to one host's (x-one-host; the target is 20
// hosts under 2x), with the SSH connections opened per host per deploy
// (conns/host). Two series:
//
//   - script: the bare deploy (fetch, checkout, switch, prune). All hosts
//     share this machine's cores, so this shows CPU contention: on real
//     servers each host's work runs on its own CPU.
//
//   - build=1s: a pre-deploy hook that waits 1 s on every host (a build
//     that does not compete for the laptop's cores) with parallel = the
//     number of hosts: this shows what the orchestration itself adds.
//
//     go test -run '^$' -bench Fleet -benchtime 5x ./deploy
func BenchmarkFleet(b *testing.B) {
	for _, series := range []struct {
		name, build string
		uncapped    bool
	}{{"script", "", false}, {"build=1s", "sleep 1", true}} {
		b.Run(series.name, func(b *testing.B) {
			var one time.Duration
			for _, n := range []int{1, 5, 10, 20} {
				b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
					f := newFleet(b, n)
					f.env.PreDeploy = series.build
					if series.uncapped {
						f.env.Parallel = n
					}
					per := benchDeploys(b, f)
					if n == 1 {
						one = per
					}
					if one > 0 {
						b.ReportMetric(float64(per)/float64(one), "x-one-host")
					}
				})
			}
		})
	}
}

// benchDeploys deploys a new commit to the fleet b.N times and returns the
// mean wall time of a deploy.
func benchDeploys(b *testing.B, f *fleet) time.Duration {
	f.stats.Connections.Store(0)
	var total time.Duration
	var busy, all int64
	runs := 0
	for b.Loop() {
		b.StopTimer()
		f.origin.commit(nil)
		b.StartTimer()
		begin := time.Now()
		b0, a0 := cpuTicks()
		if _, err := DeployFleet(ctxFor(b), f.env, f.options()); err != nil {
			b.Fatalf("deploy to %d hosts: %v", len(f.hosts), err)
		}
		b1, a1 := cpuTicks()
		total += time.Since(begin)
		busy, all = busy+b1-b0, all+a1-a0
		runs++
	}
	b.ReportMetric(float64(f.stats.Connections.Load())/float64(len(f.hosts)*runs), "conns/host")
	if all > 0 {
		b.ReportMetric(100*float64(busy)/float64(all), "cpu-busy-%")
	}
	return total / time.Duration(runs)
}

// cpuTicks returns the machine's busy and total CPU time from /proc/stat
// (every process, this benchmark's hosts and anything else running), in
// clock ticks; zeros when it cannot be read.
func cpuTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, field := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(field, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}
