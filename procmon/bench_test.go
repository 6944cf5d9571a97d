package procmon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The benchmarks drive real processes with wrk: the test binary as the
// worker, hit directly and through a built procmon binary in proxy and in
// socket mode. Run them with `make bench`; the figures go to BENCHMARKS.md.

// wrkResult is what one wrk run printed.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	requests int
	failed   int           // socket errors plus non-2xx/3xx answers
	cpu      time.Duration // wrk's own CPU time
	raw      string
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkPct    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkTotal  = regexp.MustCompile(`(\d+) requests in`)
	wrkErrs   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func runWrk(b *testing.B, url string, d time.Duration, close bool) wrkResult {
	b.Helper()
	args := []string{"-t2", "-c64", "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency", "--timeout", "10s"}
	if close {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	name := "wrk"
	// wrk gets a core of its own when taskset is there, so that it cannot
	// take CPU from the servers under test beyond that core.
	if path, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		name, args = path, append([]string{"-c", strconv.Itoa(runtime.NumCPU() - 1), "wrk"}, args...)
	}
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	r := parseWrk(b, string(out))
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() // taskset execs wrk: one process
	return r
}

func parseWrk(b *testing.B, out string) wrkResult {
	r := wrkResult{raw: out}
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		d := time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[p[3]])).Round(10 * time.Microsecond)
		if p[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := wrkTotal.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	if m := wrkErrs.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.failed += n
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.failed += n
	}
	return r
}

// benchEnv is the processes of one benchmark scenario.
type benchEnv struct {
	b       *testing.B
	root    string
	procmon string // the built binary
	exe     string // the worker (this test binary)
}

// benchTool is the path of a tool a benchmark needs. A missing one skips
// the benchmark with hint, or fails it under DEPLOY_REQUIRE_SSHD=1 (make
// bench: every tool is required, and scripts/deps.sh installs them).
func benchTool(b *testing.B, name, hint string) string {
	b.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if name == "nginx" { // not on a non-root PATH on Debian
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			return "/usr/sbin/nginx"
		}
	}
	if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
		b.Fatalf("%s is not installed and make bench requires it (hint: %s, or make deps-bench)", name, hint)
	}
	b.Skipf("%s is not installed, skipping (hint: %s)", name, hint)
	return ""
}

func newBenchEnv(b *testing.B) *benchEnv {
	benchTool(b, "wrk", "apt-get install wrk")
	root := b.TempDir()
	bin, err := benchProcmon(root)
	if err != nil {
		b.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "app", "tmp"), 0o755); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{b: b, root: root, procmon: bin, exe: exe}
}

// benchProcmonEnv names a procmon binary for the benchmarks to run
// instead of building ../cmd/procmon: an A/B of two builds (another
// commit's procmon against this one) with the same harness and worker,
// e.g. PROCMON_BENCH_BINARY=/tmp/procmon-old ./procmon.test -test.bench Throughput.
const benchProcmonEnv = "PROCMON_BENCH_BINARY"

// benchProcmon is the procmon binary the benchmarks run: $PROCMON_BENCH_BINARY,
// or ../cmd/procmon built into dir.
func benchProcmon(dir string) (string, error) {
	if bin := os.Getenv(benchProcmonEnv); bin != "" {
		st, err := os.Stat(bin)
		if err == nil && (st.IsDir() || st.Mode()&0o111 == 0) {
			err = errors.New("not an executable file")
		}
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w (hint: build one with go build -o FILE ./cmd/procmon, or unset it to build this tree's)", benchProcmonEnv, bin, err)
		}
		fmt.Printf("\nprocmon binary: %s (from %s)\n", bin, benchProcmonEnv)
		return bin, nil
	}
	bin := filepath.Join(dir, "procmon")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/procmon").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build procmon: %v\n%s", err, out)
	}
	return bin, nil
}

func benchPort(b *testing.B) string {
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// startDirect runs one worker on its own port, as the baseline.
func (e *benchEnv) startDirect(knobs map[string]string) (string, *exec.Cmd, func()) {
	addr := benchPort(e.b)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(e.exe)
	cmd.Dir = filepath.Join(e.root, "app")
	cmd.Env = append(os.Environ(), "PMT_WORKER=1", "PORT="+port, "WORKER_ID=1", "PROCMON_GENERATION=1")
	for _, k := range slices.Sorted(maps.Keys(knobs)) {
		cmd.Env = append(cmd.Env, k+"="+knobs[k])
	}
	if err := cmd.Start(); err != nil {
		e.b.Fatal(err)
	}
	waitHTTP(e.b, "http://"+addr+"/")
	return addr, cmd, func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
}

// startProcmon runs the procmon binary over workers copies of the worker,
// with the worker knobs in its env.
func (e *benchEnv) startProcmon(mode Mode, workers int, knobs map[string]string) (string, *exec.Cmd, func()) {
	return e.startProcmonCommand(mode, workers, []string{e.exe}, mergeEnv(map[string]string{"PMT_WORKER": "1"}, knobs))
}

// startProcmonCommand runs the procmon binary over workers copies of
// command, with env added to the workers' environment.
func (e *benchEnv) startProcmonCommand(mode Mode, workers int, command []string, env map[string]string) (string, *exec.Cmd, func()) {
	addr := benchPort(e.b)
	cfg := filepath.Join(e.root, string(mode)+".toml")
	var vars []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		vars = append(vars, fmt.Sprintf("%s = %q", k, env[k]))
	}
	var args []string
	for _, a := range command {
		args = append(args, strconv.Quote(a))
	}
	doc := fmt.Sprintf("name = \"bench\"\ndir = %q\ncommand = [%s]\nworkers = %d\nlisten = %q\nmode = %q\nrestart_file = \"tmp/restart.txt\"\nenv = { %s }\nstop_timeout = \"10s\"\nsocket = %q\n",
		filepath.Join(e.root, "app"), strings.Join(args, ", "), workers, addr, mode, strings.Join(vars, ", "), filepath.Join(e.root, "ctl.sock"))
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		e.b.Fatal(err)
	}
	cmd := exec.Command(e.procmon, "run", "-c", cfg)
	logf, _ := os.Create(filepath.Join(e.root, string(mode)+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.b.Fatal(err)
	}
	waitHTTP(e.b, "http://"+addr+"/")
	return addr, cmd, func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		logf.Close()
	}
}

func waitHTTP(b *testing.B, url string) {
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	b.Fatalf("%s never answered 200", url)
}

// benchScenario is one kind of worker BenchmarkThroughput measures.
type benchScenario struct {
	name  string            // the prefix of its metrics
	about string            // the heading of its table
	knobs map[string]string // the test worker's knobs (see testWorker)
}

// pageRows is PMT_RENDER_ROWS for the "page" scenario (see below).
const pageRows = 25

// throughputScenarios are the workers BenchmarkThroughput runs, from the
// proxy's worst case to an app-like one.
//
//   - hello answers at once (~14 µs of CPU per request): the proxy's cost
//     laid bare, a ratio no userspace proxy gets near 100 % of on 2 cores.
//   - 1ms sleeps 1 ms per request, like an app waiting on its database.
//   - page renders an HTML table of pageRows rows (a 3.8 kB page) with
//     html/template per request, ~165 µs of CPU measured on the 2-core
//     machine (the direct row's CPU/req shows it where the benchmark
//     runs): a very light real page, lighter than a typical Rails, Django
//     or Express one; the ratio an app would see.
func throughputScenarios() []benchScenario {
	return []benchScenario{
		{"hello", "worker work per request: 0s (hello)", map[string]string{"PMT_REQ_DELAY": "0s"}},
		{"1ms", "worker work per request: 1ms (sleep)", map[string]string{"PMT_REQ_DELAY": "1ms"}},
		{"page", fmt.Sprintf("worker work per request: html/template page of %d rows", pageRows),
			map[string]string{"PMT_RENDER_ROWS": strconv.Itoa(pageRows)}},
	}
}

// BenchmarkThroughput: requests/s and latency through procmon (proxy and
// socket mode, one worker) against the same worker hit directly, with 64
// keep-alive connections and with Connection: close, for each of
// throughputScenarios. When nginx is installed, a last row puts it in
// front of the same worker as a yardstick: the ratio the best-known
// reverse proxy gets on the same machine in the same run.
func BenchmarkThroughput(b *testing.B) {
	e := newBenchEnv(b)
	nginx := nginxPath()
	if nginx == "" {
		benchTool(b, "nginx", "apt-get install nginx-light") // fails under make bench
		fmt.Println("\nnginx is not installed: no nginx row (hint: apt-get install nginx)")
	}
	for _, sc := range throughputScenarios() {
		rows := e.throughputRows(sc, nginx)
		fmt.Print(throughputTable(sc.about, rows)) // b.Log truncates long benchmark logs
		for _, r := range rows {
			if r.ka.failed+r.close.failed > 0 {
				b.Errorf("%s %s: %d failed requests", sc.name, r.name, r.ka.failed+r.close.failed)
			}
		}
		direct, proxy, socket := rows[0], rows[1], rows[2]
		b.ReportMetric(proxy.ka.rps/direct.ka.rps, sc.name+"-proxy/direct")
		b.ReportMetric(socket.ka.rps/direct.ka.rps, sc.name+"-socket/direct")
		b.ReportMetric(float64(proxy.cpuPerReq.Nanoseconds())/1e3, sc.name+"-proxy-CPU-us/req")
		b.ReportMetric(float64(max(proxy.rssKB, socket.rssKB))/1024, sc.name+"-procmon-peak-RSS-MB")
		others := 0.0
		for _, r := range rows {
			others = max(others, r.others[0], r.others[1])
		}
		b.ReportMetric(others, sc.name+"-max-other-load-cores")
		if len(rows) > 3 {
			b.ReportMetric(rows[3].ka.rps/direct.ka.rps, sc.name+"-nginx/direct")
			b.ReportMetric(float64(rows[3].cpuPerReq.Nanoseconds())/1e3, sc.name+"-nginx-CPU-us/req")
		}
	}
}

// throughputRow is one line of a throughput table.
type throughputRow struct {
	name      string
	ka, close wrkResult
	rssKB     int           // peak RSS of the proxy (direct: of the worker)
	cpuPerReq time.Duration // the proxy's (direct: the worker's) CPU per keep-alive request
	others    [2]float64    // cores busy with other things than wrk and the processes under test (keep-alive, close)
}

// throughputRows measures the worker of sc directly and behind nginx
// (when nginx is not ""), then procmon in proxy and socket mode; the rows
// come in the order direct, proxy, socket, nginx.
func (e *benchEnv) throughputRows(sc benchScenario, nginx string) []throughputRow {
	addr, cmd, stop := e.startDirect(sc.knobs)
	worker := func() []int { return []int{cmd.Process.Pid} }
	rows := []throughputRow{e.measure("direct", addr, worker, worker)}
	var last []throughputRow
	if nginx != "" {
		n := e.startNginx(nginx, addr)
		last = append(last, e.measure("nginx", n.addr, n.pids, func() []int { return append(n.pids(), cmd.Process.Pid) }))
		n.stop()
	}
	stop()
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		addr, cmd, stop := e.startProcmon(mode, 1, sc.knobs)
		pid := cmd.Process.Pid
		rows = append(rows, e.measure(string(mode), addr, func() []int { return []int{pid} }, func() []int { return withDescendants(pid) }))
		stop()
	}
	return append(rows, last...)
}

// measure runs wrk on addr with keep-alive for 5 s, then with Connection:
// close for 3 s. proxy lists the processes whose CPU per keep-alive
// request and peak RSS the row shows, tested all the processes under test
// (proxy and worker).
func (e *benchEnv) measure(name, addr string, proxy, tested func() []int) throughputRow {
	return e.measureFor(name, addr, proxy, tested, 5*time.Second, 3*time.Second)
}

// measureFor is measure with runs of ka (keep-alive) and close.
func (e *benchEnv) measureFor(name, addr string, proxy, tested func() []int, ka, close time.Duration) throughputRow {
	cpu0 := pidsCPU(proxy())
	r := throughputRow{name: name}
	r.ka, r.others[0] = e.wrkBeside("http://"+addr+"/", ka, false, tested)
	if r.ka.requests > 0 {
		r.cpuPerReq = (pidsCPU(proxy()) - cpu0) / time.Duration(r.ka.requests)
	}
	r.close, r.others[1] = e.wrkBeside("http://"+addr+"/", close, true, tested)
	for _, pid := range proxy() {
		r.rssKB += rssKB(pid, "VmHWM")
	}
	return r
}

// wrkBeside runs wrk and says how many cores were busy meanwhile with
// other things than wrk and the processes tested: the other engineers'
// jobs on a shared machine, which make a row's figures low.
func (e *benchEnv) wrkBeside(url string, d time.Duration, close bool, tested func() []int) (wrkResult, float64) {
	all0, busy0, t0 := pidsCPU(tested()), machineBusy(), time.Now()
	r := runWrk(e.b, url, d, close)
	all, busy, wall := pidsCPU(tested()), machineBusy(), time.Since(t0)
	return r, float64(busy-busy0-(all-all0)-r.cpu) / float64(wall)
}

// throughputTable prints rows under heading, each with its ratio to the
// first (direct) row.
func throughputTable(heading string, rows []throughputRow) string {
	direct := rows[0]
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s\n%-7s %11s %8s %8s %7s | %11s %8s %8s %7s | %s | %s\n", heading,
		"", "keep-alive", "p50", "p99", "ratio", "conn:close", "p50", "p99", "ratio",
		"peak RSS, CPU/keep-alive req of the proxy (direct: of the worker)", "other load (ka/close)")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-7s %9.0f/s %8s %8s %6.1f%% | %9.0f/s %8s %8s %6.1f%% | %-65s | %.2f/%.2f cores\n", r.name,
			r.ka.rps, r.ka.p50, r.ka.p99, 100*r.ka.rps/direct.ka.rps,
			r.close.rps, r.close.p50, r.close.p99, 100*r.close.rps/direct.close.rps,
			fmt.Sprintf("%.1f MB, %s", float64(r.rssKB)/1024, r.cpuPerReq), r.others[0], r.others[1])
	}
	return sb.String()
}

// BenchmarkReloadUnderLoad: wrk with 64 keep-alive connections for 12 s
// while the restart file is touched every 3 s; failed requests should be 0.
func BenchmarkReloadUnderLoad(b *testing.B) {
	e := newBenchEnv(b)
	var sb strings.Builder
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		for _, close := range []bool{false, true} {
			addr, cmd, stop := e.startProcmon(mode, 2, nil)
			ctx, cancel := context.WithCancel(context.Background())
			reloads := make(chan int, 1)
			go func() { reloads <- e.touchEvery(ctx, 3*time.Second) }()
			r := runWrk(b, "http://"+addr+"/", 12*time.Second, close)
			cancel()
			n := <-reloads
			rss := rssKB(cmd.Process.Pid, "VmHWM")
			stop()
			conn := "keep-alive"
			if close {
				conn = "Connection: close"
			}
			fmt.Fprintf(&sb, "%-6s %-17s %7.0f req/s  p50 %8s  p99 %8s  %d requests, %d reloads, %d failed, procmon peak RSS %.1f MB\n",
				mode, conn, r.rps, r.p50, r.p99, r.requests, n, r.failed, float64(rss)/1024)
			b.ReportMetric(float64(r.failed), string(mode)+"-"+strings.ReplaceAll(conn, ": ", "-")+"-failed")
			if r.failed > 0 {
				b.Logf("%s %s: %s", mode, conn, wrkErrs.FindString(r.raw)+" "+wrkNon2xx.FindString(r.raw))
			}
		}
	}
	fmt.Print("\nreload every 3 s under wrk load (2 workers):\n" + sb.String())
}

func (e *benchEnv) touchEvery(ctx context.Context, every time.Duration) int {
	file := filepath.Join(e.root, "app", "tmp", "restart.txt")
	n := 0
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
			now := time.Now()
			if err := os.WriteFile(file, nil, 0o644); err == nil {
				os.Chtimes(file, now, now)
				n++
			}
		}
	}
}
