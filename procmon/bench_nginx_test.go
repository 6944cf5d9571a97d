package procmon

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The nginx yardstick: BenchmarkThroughput puts nginx, set up as a good
// production reverse proxy, in front of the same worker it measures
// procmon against, so that procmon's proxy/direct ratio can be read next
// to the best-known proxy's on the same machine in the same run. The
// readers of /proc that measure it (and the other processes under test)
// are at the end.

// nginxPath is the nginx binary, or "" when there is none.
func nginxPath() string {
	if path, err := exec.LookPath("nginx"); err == nil {
		return path
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// nginxConf is a reverse proxy for one upstream: one worker process,
// keep-alive connections to the upstream, default proxy buffering, no
// access log, every path it writes in the prefix dir; %[1]s is the
// `user` line, %[2]s the dir, %[3]s the upstream, %[4]s the listen
// address and %[5]d the most connections (clients and upstream).
const nginxConf = `%[1]s
worker_processes 1;
worker_rlimit_nofile %[5]d;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events {
	worker_connections %[5]d;
}
http {
	access_log off;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	upstream worker {
		server %[3]s;
		keepalive 64;
	}
	server {
		listen %[4]s;
		location / {
			proxy_pass http://worker;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto $scheme;
		}
	}
}
`

// nginxProxy is a running nginx: its master, in a process group of its
// own with its worker.
type nginxProxy struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// startNginx runs nginx (the binary at bin) as a reverse proxy to the
// worker at upstream, and waits until it answers 200 through it.
func (e *benchEnv) startNginx(bin, upstream string) *nginxProxy {
	return e.startNginxConns(bin, upstream, 1024)
}

// startNginxConns is startNginx with room for conns connections.
func (e *benchEnv) startNginxConns(bin, upstream string, conns int) *nginxProxy {
	dir, err := os.MkdirTemp(e.root, "nginx-")
	if err != nil {
		e.b.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // else the worker process drops to nobody, who cannot write dir
	}
	n := &nginxProxy{addr: benchPort(e.b), dir: dir, exited: make(chan struct{})}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, user, dir, upstream, n.addr, conns), 0o644); err != nil {
		e.b.Fatal(err)
	}
	// -e: the error log from the start, before the config names it.
	n.cmd = exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	n.cmd.Stdout, n.cmd.Stderr = os.Stderr, os.Stderr
	if err := n.cmd.Start(); err != nil {
		e.b.Fatalf("start nginx: %v", err)
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	e.b.Cleanup(n.stop)
	if err := n.waitReady(20 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		e.b.Fatalf("nginx in front of %s: %v\n%s", upstream, err, log)
	}
	return n
}

// waitReady polls nginx until it answers 200, it exits, or timeout passes.
func (n *nginxProxy) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-n.exited:
			return fmt.Errorf("nginx exited: %v", n.cmd.ProcessState)
		default:
		}
		if resp, err := client.Get("http://" + n.addr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("no 200 from http://%s/ within %s", n.addr, timeout)
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
		if fields := procStat(pid); len(fields) > 2 && fields[2] == strconv.Itoa(n.cmd.Process.Pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stop asks nginx to finish gracefully (SIGQUIT) and waits for it, up to
// 10 s, then kills its process group.
func (n *nginxProxy) stop() {
	n.once.Do(func() {
		pgid := n.cmd.Process.Pid
		syscall.Kill(pgid, syscall.SIGQUIT)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-n.exited
		}
	})
}

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
