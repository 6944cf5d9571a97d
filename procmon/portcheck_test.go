package procmon

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
	"github.com/deploytool/deploy/procmon/control"
)

// TestReloadOfAnAppThatIgnoresPORT: a release whose app listens on a
// port of its own (app.listen(3000)) or binds its PORT on an address
// 127.0.0.1 does not reach. The reload fails as before and the old
// generation serves, but the reason says where the app listens and what
// to change; it used to say only "connection refused" after the ready
// timeout, or "exited with status 2 before it was ready" for the second
// worker that died of "address already in use". One that listens nowhere
// within ready.timeout is said to, as such.
func TestReloadOfAnAppThatIgnoresPORT(t *testing.T) {
	fixed := freeport.Addr(t)
	cases := []struct {
		name    string
		workers int
		on      string
		want    []string
	}{
		{"own port, two workers", 2, fixed, []string{"before it was ready; worker ", ": it listens on " + fixed + ", not on its PORT (", "$PORT"}},
		{"own port, one worker", 1, fixed, []string{"not ready within ready.timeout", "; it listens on " + fixed + ", not on its PORT ("}},
		{"PORT on another address", 1, "127.0.0.2:$PORT", []string{"not ready within ready.timeout", "; it listens on 127.0.0.2:", "which 127.0.0.1:"}},
		{"listens nowhere", 1, "", []string{"not ready within ready.timeout", "; no process of the worker listens on any TCP port yet: the app must listen on 127.0.0.1:$PORT ("}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, appSpec{workers: tc.workers}).start()
			a.spec.extra = "[ready]\ntimeout = \"2s\"\n"
			env := map[string]string{"PMT_LISTEN_ON": tc.on}
			if tc.on == "" {
				env = map[string]string{"PMT_NEVER_READY": "1"}
			}
			a.writeConfig(env)
			res, err := a.sup.Reload(t.Context())
			if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if res.OK {
				t.Fatalf("the reload passed: %+v", res)
			}
			t.Logf("reload error: %s", res.Error)
			for _, w := range tc.want {
				if !strings.Contains(res.Error, w) {
					t.Errorf("reload error %q\nlacks %q", res.Error, w)
				}
			}
			if code, worker, _, err := get(httpClient(), a.url("/")); err != nil || code != 200 || !strings.Contains(worker, "gen=1") {
				t.Errorf("after the failed reload: %d from %q (%v), want 200 from generation 1", code, worker, err)
			}
		})
	}
}

// TestCrashLoopOfAnAppThatIgnoresPORT: at procmon's first start, the
// worker that lost the app's own port to its sibling crash-loops; its
// last exit (status, the crash-loop event) says where the sibling
// listens, not only "exited with status 2".
func TestCrashLoopOfAnAppThatIgnoresPORT(t *testing.T) {
	fixed := freeport.Addr(t)
	a := newTestApp(t, appSpec{workers: 2, env: map[string]string{"PMT_LISTEN_ON": fixed}, extra: "[ready]\ntimeout = \"20s\"\n",
		backoff: Backoff{Initial: 100 * time.Millisecond, Max: 800 * time.Millisecond}})
	a.launch()
	st := a.waitState(StateCrashLoop, 20*time.Second)
	var exits []string
	for _, w := range st.Workers {
		exits = append(exits, w.LastExit)
	}
	if all := strings.Join(exits, " | "); !strings.Contains(all, "exited with status 2; worker ") || !strings.Contains(all, ": it listens on "+fixed+", not on its PORT (") {
		t.Errorf("last exits %q: want the crash, and where the other worker listens", all)
	}
}

// TestAReadyAppGetsNoPortHint: a worker listening on its PORT (and on
// more ports) gets no hint, nor one still booting when quiet.
func TestAReadyAppGetsNoPortHint(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1}).start()
	w := a.sup.Status().Workers[0]
	if h := portHint(w.PID, w.Port, false); h != "" {
		t.Errorf("a worker serving on its PORT got the hint %q", h)
	}
	if h := portHint(1<<22+1, 1, true); h != "" { // no such process group
		t.Errorf("no process: hint %q", h)
	}
}

// TestProcAddr decodes /proc/net/tcp{,6} addresses as this host prints
// them, against sockets this test opens and finds in the tables.
func TestProcAddr(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0", "0.0.0.0:0", "[::]:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		defer l.Close()
		want := l.Addr().(*net.TCPAddr)
		got, err := listeningOf(t, l)
		if err != nil {
			t.Fatal(err)
		}
		if !got.IP.Equal(want.IP) || got.Port != want.Port {
			t.Errorf("listening on %s: /proc says %s", want, got)
		}
	}
	if a := procAddr("0000000000000000FFFF00000100007F:1F90"); a == nil || !a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.Port != 8080 {
		t.Errorf("an IPv4-mapped 127.0.0.1:8080 read as %v", a)
	}
	for _, bad := range []string{"", "0100007F", "0100007F:", "XX00007F:0050", "0100007:0050"} {
		if a := procAddr(bad); a != nil {
			t.Errorf("procAddr(%q) = %v, want nil", bad, a)
		}
	}
}

// listeningOf finds l among what this process listens on.
func listeningOf(t *testing.T, l net.Listener) (*net.TCPAddr, error) {
	t.Helper()
	port := l.Addr().(*net.TCPAddr).Port
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		addrs, err := listeningPids(t, port)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 1 {
			return addrs[0], nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, fmt.Errorf("port %d not found listening", port)
}

// listeningPids is listening for this test's own process group, the
// addresses on port.
func listeningPids(t *testing.T, port int) ([]*net.TCPAddr, error) {
	t.Helper()
	addrs, err := listening(syscall.Getpgrp())
	var out []*net.TCPAddr
	for _, a := range addrs {
		if a.Port == port {
			out = append(out, a)
		}
	}
	return out, err
}

// TestReloadOfAnAppOnProcmonsOwnPort: a pm2 app keeps app.listen(3000)
// and procmon took over port 3000 for it (so that nginx's upstream stays
// the same). Every worker dies of "address already in use" and none
// listens anywhere, so /proc has nothing to say; the abandoned reload's
// verdict (as `procmon reload --wait` and deploy's gate give it) now
// says from the workers' own output that the port is procmon's, and what
// to listen on. A fixed port some other process holds gets the general
// form. The old generation serves throughout.
func TestReloadOfAnAppOnProcmonsOwnPort(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	td := startDaemon(t, newTestApp(t, appSpec{workers: 2}))
	for _, tc := range []struct{ on, want string }{
		{td.listen, `; its output says "address already in use" for port ` + portOf(t, td.listen) + ", procmon's own listen address (" + td.listen + "): the app must listen on the port procmon gives each worker in $PORT"},
		{other.Addr().String(), `; its output says "address already in use": if the app listens on a fixed port, it must listen on the port procmon gives each worker in $PORT`},
	} {
		td.writeConfig(map[string]string{"PMT_LISTEN_ON": tc.on})
		r := td.reload(t)
		if r.Outcome != control.OutcomeAbandoned || !strings.Contains(r.Reason, "before it was ready") || !strings.Contains(r.Reason, tc.want) {
			t.Errorf("reload with the app on %s: %+v\nwant the reason to hold %q", tc.on, r, tc.want)
		}
		if code, worker, _, err := get(httpClient(), td.url("/")); err != nil || code != 200 || !strings.Contains(worker, "gen=1") {
			t.Errorf("after the failed reload: %d from %q (%v), want 200 from generation 1", code, worker, err)
		}
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestInUseHintReadsRealApps: the words real runtimes print when their
// port is taken (Node's EADDRINUSE, Python's OSError), got by running
// them against a port this test holds, as procmon's log stamps them and
// a verdict keeps their last lines; the port is recognised as procmon's
// only as a number of its own.
func TestInUseHintReadsRealApps(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	listen := l.Addr().String()
	port := portOf(t, listen)
	for _, app := range []struct{ name, flag, prog string }{
		{"node", "-e", "require('http').createServer().listen(" + port + ", '127.0.0.1')"},
		{"python3", "-c", "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', " + port + ")); s.listen()"},
	} {
		if _, err := exec.LookPath(app.name); err != nil {
			if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
				t.Fatalf("%s is not installed: run scripts/deps.sh test", app.name)
			}
			t.Skipf("%s is not installed", app.name)
		}
		out, err := exec.Command(app.name, app.flag, app.prog).CombinedOutput()
		if err == nil {
			t.Fatalf("%s bound a port that is taken", app.name)
		}
		var tail []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			tail = append(tail, "2026-12-07T03:20:15.000Z gen=3 worker=1 pid=42 | "+l)
		}
		tail = tail[max(0, len(tail)-logTailLines):] // what a verdict holds
		h := inUseHint(tail, listen, ModeProxy, "worker 1 exited with status 1 before it was ready")
		if !strings.Contains(h, "for port "+port+", procmon's own listen address") && app.name == "node" {
			t.Errorf("%s's words:\n%s\nhint %q; want procmon's port named", app.name, out, h)
		}
		if !strings.Contains(h, "address already in use") {
			t.Errorf("%s's words:\n%s\nhint %q; want the in-use hint", app.name, out, h)
		}
		if s := inUseHint(tail, listen, ModeSocket, ""); !strings.Contains(s, "fd 3") {
			t.Errorf("socket mode: %q", s)
		}
		if s := inUseHint(tail, listen, ModeProxy, "…; worker 2: it listens on 127.0.0.1:3000, not on its PORT"); s != "" {
			t.Errorf("a reason that says where a worker listens got %q too", s)
		}
	}
	if mentionsPort("listen tcp 127.0.0.1:30001: bind: address already in use", "3000") || !mentionsPort("listen EADDRINUSE: address already in use :::3000", "3000") {
		t.Error("mentionsPort matched inside a longer number, or missed a port of its own")
	}
}

// TestCrashLoopOnProcmonsOwnPortSaysSo: at procmon's own start (a reboot
// with the release already there: no reload, so no verdict), workers
// that die of "address already in use" on procmon's listen port
// crash-loop; `procmon status` gives each one's last exit, which now says
// so from their output too.
func TestCrashLoopOnProcmonsOwnPortSaysSo(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1, extra: "[ready]\ntimeout = \"20s\"\n",
		backoff: Backoff{Initial: 100 * time.Millisecond, Max: 800 * time.Millisecond}})
	a.writeConfig(map[string]string{"PMT_LISTEN_ON": a.listen})
	td := launchDaemon(t, a)
	a.waitState(StateCrashLoop, 20*time.Second)
	want := `; its output says "address already in use" for port ` + portOf(t, a.listen) + ", procmon's own listen address"
	st := td.waitDaemonStatus(t, "the last exit naming procmon's port", func(s control.Status) bool {
		return len(s.Workers) == 1 && strings.Contains(s.Workers[0].LastExit, want)
	})
	if !strings.Contains(st.Workers[0].LastExit, "exited with status 2") {
		t.Errorf("last exit %q: want the crash itself too", st.Workers[0].LastExit)
	}
}
