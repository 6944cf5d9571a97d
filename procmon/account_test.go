package procmon

import (
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// sharedDir is a directory other users can read and enter, which
// t.TempDir (mode 0700 under a 0700 parent) is not.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "procmon-account-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyExe copies this test binary where user nobody can run it.
func copyExe(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	exe := filepath.Join(dir, "worker")
	out, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return exe
}

// requireRootAndNobody skips unless the test runs as root (only root can
// start processes as another user) on a host with user nobody.
func requireRootAndNobody(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: only root can start workers as another user (CI runs as root)")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody on this host: %v", err)
	}
	return u
}

// TestWorkersRunAsConfiguredUser: with user set, every worker runs as
// that user, its primary group and its HOME, in proxy mode (http check)
// and in socket mode, where READY=1 must reach procmon's notify socket
// from the unprivileged worker.
func TestWorkersRunAsConfiguredUser(t *testing.T) {
	nobody := requireRootAndNobody(t)
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		t.Run(string(mode), func(t *testing.T) {
			root := sharedDir(t)
			a := newTestApp(t, appSpec{mode: mode, root: root, exe: copyExe(t, root), extra: "user = \"nobody\"\n"}).start()
			_, _, body, err := get(httpClient(), a.url("/whoami"))
			want := "uid=" + nobody.Uid + " gid=" + nobody.Gid + " home=" + nobody.HomeDir + " user=nobody"
			if err != nil || !strings.Contains(body, want) {
				t.Fatalf("GET /whoami = %q, %v; want %q", body, err, want)
			}
		})
	}
}

// TestWorkerUserCannotReadDir: a dir the user cannot enter is a start
// error that names the user and says what to fix.
func TestWorkerUserCannotReadDir(t *testing.T) {
	requireRootAndNobody(t)
	root := t.TempDir() // 0700: nobody cannot enter it
	a := newTestApp(t, appSpec{mode: ModeProxy, root: root, extra: "user = \"nobody\"\n"})
	cfg, err := LoadConfig(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sup, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = sup.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "as nobody") || !strings.Contains(err.Error(), "readable and executable by user nobody") {
		t.Fatalf("Run = %v, want a permission error naming user nobody", err)
	}
}
