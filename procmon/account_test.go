package procmon

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/testusers"
)

// TestWorkersRunAsConfiguredUser: with user set, every worker runs as
// that user, its primary group and its HOME, in proxy mode (http check)
// and in socket mode, where READY=1 must reach procmon's notify socket
// from the unprivileged worker.
func TestWorkersRunAsConfiguredUser(t *testing.T) {
	testusers.RequireRoot(t, "start workers as another user")
	nobody := testusers.Lookup(t, "nobody")
	for _, mode := range []Mode{ModeProxy, ModeSocket} {
		t.Run(string(mode), func(t *testing.T) {
			root := testusers.SharedDir(t)
			exe := testusers.CopyExecutable(t, root, "worker")
			a := newTestApp(t, appSpec{mode: mode, root: root, exe: exe, extra: "user = \"nobody\"\n"}).start()
			_, _, body, err := get(httpClient(), a.url("/whoami"))
			want := "uid=" + strconv.Itoa(nobody.UID) + " gid=" + strconv.Itoa(nobody.GID) + " home=" + nobody.Home + " user=nobody"
			if err != nil || !strings.Contains(body, want) {
				t.Fatalf("GET /whoami = %q, %v; want %q", body, err, want)
			}
		})
	}
}

// TestWorkerUserCannotReadDir: a dir the user cannot enter is a start
// error that names the user and says what to fix.
func TestWorkerUserCannotReadDir(t *testing.T) {
	testusers.RequireRoot(t, "start workers as another user")
	testusers.Lookup(t, "nobody")
	root := t.TempDir() // under a 0700 parent: nobody cannot enter it
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
	if err == nil || !strings.Contains(err.Error(), "as nobody") || !strings.Contains(hint.Of(err), "readable and executable by user nobody") {
		t.Fatalf("Run = %v, want a permission error naming user nobody", err)
	}
}

// TestDaemonSharesSocketAndLogWithGroup: with group set, the control
// socket is root:group 0660 and the log root:group 0640; and procmon warns
// at start that a directory above them (t.TempDir()'s 0700 parent) keeps the
// group out.
func TestDaemonSharesSocketAndLogWithGroup(t *testing.T) {
	testusers.RequireRoot(t, "give the socket and the log to another group")
	nobody := testusers.Lookup(t, "nobody")
	g, err := user.LookupGroupId(strconv.Itoa(nobody.GID))
	if err != nil {
		t.Skipf("nobody's group has no name: %v", err)
	}
	root := t.TempDir()
	logFile := filepath.Join(root, "log", "app.log")
	a := newTestApp(t, appSpec{root: root, extra: fmt.Sprintf("group = %q\n[log]\nfile = %q\n", g.Name, logFile)})
	td := startDaemon(t, a)
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{td.d.SocketPath(), 0o660}, {logFile, 0o640}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != f.mode || int(st.Gid) != nobody.GID {
			t.Errorf("%s: mode %v group %d, want %v and group %d", f.path, fi.Mode().Perm(), st.Gid, f.mode, nobody.GID)
		}
	}
	if out := td.stderr.String(); !strings.Contains(out, "members of the config's group cannot reach "+td.d.SocketPath()) ||
		!strings.Contains(out, filepath.Dir(root)+" is closed to them") {
		t.Errorf("no warning about the closed directory %s:\n%s", filepath.Dir(root), out)
	}
}
