package procmon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The pm2 yardstick (issue 14): the Node sample app (examples/node-hello)
// under pm2 in cluster mode, where pm2's daemon holds the listening socket
// and hands each new connection to a worker, against the same app behind
// procmon's proxy, with the same wrk load (64 keep-alive connections for
// 3 s, then Connection: close for 2 s: shorter runs than
// BenchmarkThroughput's, to keep make bench short; the rounds give the
// spread). One worker each, so that pm2,
// procmon and the app hit directly serve with the same single Node
// process; the runs alternate (pm2, procmon, pm2, procmon, …).

// pm2Rounds is how many runs of each BenchmarkPM2Cluster makes, and
// pm2KeepAlive and pm2Close how long each wrk run lasts.
const (
	pm2Rounds    = 2
	pm2KeepAlive = 3 * time.Second
	pm2Close     = 2 * time.Second
)

// BenchmarkPM2Cluster: requests/s of node-hello behind procmon's proxy
// against pm2 cluster mode and against the app hit directly, each
// reported as a ratio with its spread over the rounds.
func BenchmarkPM2Cluster(b *testing.B) {
	e := newBenchEnv(b)
	node := benchTool(b, "node", "apt-get install nodejs")
	pm2 := benchTool(b, "pm2", "npm install -g pm2")
	server, err := filepath.Abs("../examples/node-hello/server.js")
	if err != nil {
		b.Fatal(err)
	}
	var rows []throughputRow
	for range pm2Rounds {
		addr, cmd, stop := e.startNode(node, server)
		app := func() []int { return []int{cmd.Process.Pid} }
		rows = append(rows, e.measureFor("direct", addr, app, app, pm2KeepAlive, pm2Close))
		stop()

		p := e.startPM2(pm2, server)
		rows = append(rows, e.measureFor("pm2", p.addr, p.daemon, p.all, pm2KeepAlive, pm2Close))
		p.stop()

		addr, cmd, stop = e.startProcmonCommand(ModeProxy, 1, []string{node, server}, nil)
		pid := cmd.Process.Pid
		rows = append(rows, e.measureFor("procmon", addr, func() []int { return []int{pid} }, func() []int { return withDescendants(pid) }, pm2KeepAlive, pm2Close))
		stop()
	}
	ratio := func(num, den string, close bool) []float64 {
		var out []float64
		for i := 0; i+2 < len(rows); i += 3 {
			round := map[string]throughputRow{rows[i].name: rows[i], rows[i+1].name: rows[i+1], rows[i+2].name: rows[i+2]}
			n, d := round[num].ka.rps, round[den].ka.rps
			if close {
				n, d = round[num].close.rps, round[den].close.rps
			}
			out = append(out, n/d)
		}
		return out
	}
	var sb strings.Builder
	for i := 0; i < len(rows); i += 3 {
		sb.WriteString(strings.TrimPrefix(throughputTable(fmt.Sprintf("round %d (pm2 and procmon: the CPU and peak RSS of pm2's daemon, procmon)", i/3+1), rows[i:i+3]), "\n"))
	}
	pct := func(v []float64) string {
		for i := range v {
			v[i] *= 100
		}
		return spread(v, "%.1f%%")
	}
	fmt.Printf("\nnode-hello, 1 worker, pm2 cluster mode against procmon's proxy, %d rounds:\n%s", pm2Rounds, sb.String())
	fmt.Printf("procmon/pm2:    keep-alive %s, Connection: close %s\n", pct(ratio("procmon", "pm2", false)), pct(ratio("procmon", "pm2", true)))
	fmt.Printf("procmon/direct: keep-alive %s, Connection: close %s\n", pct(ratio("procmon", "direct", false)), pct(ratio("procmon", "direct", true)))
	fmt.Printf("pm2/direct:     keep-alive %s, Connection: close %s\n", pct(ratio("pm2", "direct", false)), pct(ratio("pm2", "direct", true)))
	b.ReportMetric(median(ratio("procmon", "pm2", false)), "procmon/pm2-keepalive")
	b.ReportMetric(median(ratio("procmon", "pm2", true)), "procmon/pm2-close")
	b.ReportMetric(median(ratio("procmon", "direct", false)), "procmon/direct-keepalive")
	for _, r := range rows {
		if r.ka.failed+r.close.failed > 0 {
			b.Errorf("%s: %d failed requests", r.name, r.ka.failed+r.close.failed)
		}
	}
}

// startNode runs node-hello on a port of its own, the baseline.
func (e *benchEnv) startNode(node, server string) (string, *exec.Cmd, func()) {
	addr := benchPort(e.b)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(node, server)
	cmd.Dir = filepath.Join(e.root, "app")
	cmd.Env = append(os.Environ(), "PORT="+port)
	if err := cmd.Start(); err != nil {
		e.b.Fatal(err)
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	e.b.Cleanup(stop)
	waitHTTP(e.b, "http://"+addr+"/")
	return addr, cmd, stop
}

// pm2Cluster is node-hello under a pm2 daemon of its own (PM2_HOME in a
// temp dir, so that the machine's own pm2, if any, is left alone).
type pm2Cluster struct {
	addr    string
	run     func(args ...string) error
	home    string
	stopped bool
}

// startPM2 runs node-hello under pm2 in cluster mode with one worker.
func (e *benchEnv) startPM2(pm2, server string) *pm2Cluster {
	home, err := os.MkdirTemp(e.root, "pm2-")
	if err != nil {
		e.b.Fatal(err)
	}
	p := &pm2Cluster{addr: benchPort(e.b), home: home}
	_, port, _ := strings.Cut(p.addr, ":")
	p.run = func(args ...string) error {
		cmd := exec.Command(pm2, args...)
		cmd.Dir = filepath.Join(e.root, "app")
		cmd.Env = append(os.Environ(), "PM2_HOME="+home, "PORT="+port)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pm2 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	e.b.Cleanup(p.stop)
	if err := p.run("start", server, "--name", "bench", "-i", "1", "--no-autorestart"); err != nil {
		e.b.Fatal(err)
	}
	waitHTTP(e.b, "http://"+p.addr+"/")
	return p
}

// daemon is pm2's daemon: the cluster's primary, which accepts the
// connections.
func (p *pm2Cluster) daemon() []int {
	data, _ := os.ReadFile(filepath.Join(p.home, "pm2.pid"))
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return nil
	}
	return []int{pid}
}

// all is the daemon and its workers.
func (p *pm2Cluster) all() []int {
	if d := p.daemon(); len(d) == 1 {
		return withDescendants(d[0])
	}
	return nil
}

// stop kills pm2's daemon and its workers; it may run more than once.
func (p *pm2Cluster) stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	deadline := time.Now().Add(20 * time.Second)
	for p.run("kill") != nil && time.Now().Before(deadline) {
		time.Sleep(time.Second)
	}
}
