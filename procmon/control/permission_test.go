package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/testusers"
)

// clientEnv makes the test binary a client asking the socket it names for
// the status, as `procmon status` would, printing the error, its hint and
// the exit code.
const clientEnv = "PROCMON_CONTROL_TEST_CLIENT"

func runChildClient(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := NewClient(path).Status(ctx)
	if err == nil {
		fmt.Println("ok")
		return 0
	}
	fmt.Println("error:", err)
	if he, ok := errors.AsType[HintError](err); ok {
		fmt.Println("hint:", he.Hint())
	}
	fmt.Println("code:", ExitCode(ReloadResult{}, err))
	return 1
}

// statusAs asks the socket at path for the status from a process of uid
// and gid (no supplementary groups), and returns what it printed.
func statusAs(t *testing.T, exe, path string, uid, gid int) string {
	t.Helper()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), clientEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// TestSocketSharedWithGroup: with ServerOptions.GID the socket is
// root:group 0660, a member of the group gets the status, and anyone else
// gets a permission error (exit code 6) that names the socket and the
// group to join. A private socket's refusal says to set group instead.
func TestSocketSharedWithGroup(t *testing.T) {
	testusers.RequireRoot(t, "run a client as another user")
	nobody := testusers.Lookup(t, "nobody")
	dir := testusers.SharedDir(t)
	exe := testusers.CopyExecutable(t, dir, "client")
	path := filepath.Join(dir, "run", "app.sock")
	srv, err := NewServerWith(path, "app", &fakeHandler{status: Status{App: "app", State: StateReady}}, ServerOptions{GID: nobody.GID})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	t.Cleanup(func() { cancel(); srv.Close() })

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o660 || int(st.Gid) != nobody.GID {
		t.Fatalf("socket mode %v group %d, want 0660 and group %d", fi.Mode().Perm(), st.Gid, nobody.GID)
	}
	if out := statusAs(t, exe, path, nobody.UID, nobody.GID); strings.TrimSpace(out) != "ok" {
		t.Errorf("a member of the group: %s", out)
	}
	group := groupName(t, nobody.GID)
	out := statusAs(t, exe, path, 4242, 4242)
	for _, want := range []string{"error: permission denied on " + path, "hint: add ", "to group " + group, "usermod -aG " + group, "code: 6"} {
		if !strings.Contains(out, want) {
			t.Errorf("not a member: output lacks %q:\n%s", want, out)
		}
	}

	private := filepath.Join(dir, "private", "app.sock")
	psrv, err := NewServer(private, "app", &fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	go psrv.Serve(ctx)
	t.Cleanup(func() { psrv.Close() })
	out = statusAs(t, exe, private, nobody.UID, nobody.GID)
	for _, want := range []string{"error: permission denied on " + private, "hint: set group in the procmon config", "code: 6"} {
		if !strings.Contains(out, want) {
			t.Errorf("private socket: output lacks %q:\n%s", want, out)
		}
	}
}

func groupName(t *testing.T, gid int) string {
	t.Helper()
	out, err := exec.Command("getent", "group", fmt.Sprint(gid)).Output()
	if err != nil {
		t.Skipf("getent group %d: %v", gid, err)
	}
	name, _, _ := strings.Cut(string(out), ":")
	return name
}

// TestExitCodePermission: a permission error, whatever wraps it, is exit
// code 6 and says "permission denied on <path>".
func TestExitCodePermission(t *testing.T) {
	err := fmt.Errorf("status app: %w", &PermissionError{Path: "/run/procmon/app.sock", Group: "app", Err: syscall.EACCES})
	if got := ExitCode(ReloadResult{}, err); got != ExitPermission {
		t.Errorf("ExitCode = %d, want %d", got, ExitPermission)
	}
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "permission denied on /run/procmon/app.sock") {
		t.Errorf("error %q does not match os.ErrPermission or lacks the path", err)
	}
	if h := (&PermissionError{Path: "/x", Group: "app"}).Hint(); !strings.Contains(h, "usermod -aG app ") || !strings.Contains(h, "or set group in the procmon config") {
		t.Errorf("hint %q", h)
	}
}
