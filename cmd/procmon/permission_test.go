package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/internal/testusers"
	"github.com/deploytool/deploy/procmon/control"
)

// asUser runs procmon (the copied test binary exe as main) with args as
// uid and gid (and no other group), and returns its exit status and
// output.
func asUser(t *testing.T, exe string, uid, gid int, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "PROCMON_CMD_MAIN=1")
	cmd.Dir = filepath.Dir(exe)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("run %v as %d: %v", args, uid, err)
	}
	return 0, string(out)
}

// TestDeployUserInGroup is the server as README sets it up: procmon runs
// as root with user and group set; the workers run as the user; a member
// of the group (here the user itself: the group is its primary one) runs
// reload --wait, status and logs; anyone else gets exit status 6 and a
// message naming the socket or the log and the group to join.
func TestDeployUserInGroup(t *testing.T) {
	testusers.RequireRoot(t, "run procmon's commands as other users")
	nobody := testusers.Lookup(t, "nobody")
	group, err := user.LookupGroupId(strconv.Itoa(nobody.GID))
	if err != nil {
		t.Skipf("nobody's group has no name: %v", err)
	}
	dir := testusers.SharedDir(t)
	exe := testusers.CopyExecutable(t, dir, "procmon")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, sock, logFile := filepath.Join(dir, "shop.toml"), filepath.Join(dir, "run", "shop.sock"), filepath.Join(dir, "log", "shop.log")
	text := fmt.Sprintf(`dir = %q
command = [%q]
listen = %q
env = { PROCMON_CMD_WORKER = "1" }
user = "nobody"
group = %q
socket = %q
stop_timeout = "5s"
[log]
file = %q
`, dir, exe, addr, group.Name, sock, logFile)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	daemonErr := &syncbuf.Buffer{}
	daemon := startProcmon(t, nil, io.Discard, daemonErr, "run", "-c", cfg)
	defer stopProcmon(t, daemon, syscall.SIGTERM, daemonErr)
	waitReady(t, &cmdApp{cfg: cfg}, daemonErr)

	if code, out := asUser(t, exe, nobody.UID, nobody.GID, "reload", "--wait", "-c", cfg); code != 0 || !strings.Contains(out, "reload served") {
		t.Errorf("reload --wait by a member of %s: exit %d\n%s", group.Name, code, out)
	}
	if code, out := asUser(t, exe, nobody.UID, nobody.GID, "status", "-c", cfg); code != 0 || !strings.Contains(out, "procmon shop:") {
		t.Errorf("status by a member: exit %d\n%s", code, out)
	}
	if code, out := asUser(t, exe, nobody.UID, nobody.GID, "logs", "-n", "20", "-c", cfg); code != 0 || !strings.Contains(out, "worker up") {
		t.Errorf("logs by a member: exit %d\n%s", code, out)
	}
	st := waitReady(t, &cmdApp{cfg: cfg}, daemonErr)
	for _, w := range st.Workers {
		if uid := processUID(t, w.PID); w.PID != 0 && uid != nobody.UID {
			t.Errorf("worker %s (pid %d) runs as uid %d, want nobody (%d)", w.ID, w.PID, uid, nobody.UID)
		}
	}

	checkStranger(t, exe, cfg, sock, logFile, group.Name)
}

// checkStranger runs reload --wait, status and logs as a uid outside
// group: each exits 6 naming the socket or the log and the group to join.
func checkStranger(t *testing.T, exe, cfg, sock, logFile, group string) {
	t.Helper()
	for _, tc := range []struct {
		args []string
		path string
	}{
		{[]string{"reload", "--wait", "-c", cfg}, sock},
		{[]string{"status", "--json", "-c", cfg}, sock},
		{[]string{"logs", "-c", cfg}, logFile},
	} {
		code, out := asUser(t, exe, 4242, 4242, tc.args...)
		for _, want := range []string{"error: ", "permission denied on " + tc.path, "hint: add ", "usermod -aG " + group + " ", "set group in the procmon config"} {
			if code != control.ExitPermission || !strings.Contains(out, want) {
				t.Errorf("%s by a stranger: exit %d, want %d and %q in:\n%s", tc.args[0], code, control.ExitPermission, want, out)
				break
			}
		}
	}
}

// processUID reads the real uid of pid from /proc.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, _ := strconv.Atoi(strings.Fields(rest)[0])
			return uid
		}
	}
	t.Fatalf("no Uid line for pid %d", pid)
	return -1
}
