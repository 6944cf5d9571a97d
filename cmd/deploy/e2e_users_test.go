package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/freeport"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testusers"
)

// usersServer is a "server" set up as README's first real deploy says:
// an app user whose primary group is the app's group, a deploy user that
// logs in over real sshd (in that group, or not), procmon run by root
// with user and group set, and everything in a directory all may enter.
type usersServer struct {
	*fixture
	app, deployer testusers.Account
	pm, pmConf    string
	sock, listen  string
}

// userHost is what a users test's server starts with: an app user, a
// deploy user (in the app's group when inGroup) logging in over real sshd,
// an empty origin (main) in a directory every user may read, and the
// app's path (under shared, at rel) owned by the deploy user.
type userHost struct {
	f             *fixture
	app, deployer testusers.Account
	shared        string
}

func newUserHost(t *testing.T, inGroup bool, rel string) userHost {
	t.Helper()
	app := testusers.AddUser(t)
	var deployer testusers.Account
	if inGroup {
		deployer = testusers.AddUser(t, app.Name)
	} else {
		deployer = testusers.AddUser(t)
	}
	shared := testusers.SharedDir(t)
	sshd := sshtest.Start(t, sshtest.Options{User: deployer.Name})
	origin := &originRepo{t: t, dir: filepath.Join(shared, "origin")}
	origin.git("init", "-q", "-b", "main", origin.dir)
	f := &fixture{t: t, sshd: sshd, origin: origin, home: sshtest.FakeHome(t, "", sshd), path: filepath.Join(shared, rel)}
	useHome(t, f.home)
	t.Setenv("SSH_AUTH_SOCK", "")
	// The deploy user owns the app's path (install -d -o deploy), and
	// trusts the origin, which root owns (on a real server it is a URL).
	mkdirOwned(t, f.path, deployer)
	gitconfig := filepath.Join(deployer.Home, ".gitconfig")
	writeFile(t, gitconfig, "[safe]\n\tdirectory = "+origin.dir+"\n\tdirectory = "+origin.dir+"/.git\n")
	chown(t, gitconfig, deployer)
	return userHost{f: f, app: app, deployer: deployer, shared: shared}
}

func newUsersServer(t *testing.T, pm string, inGroup bool) *usersServer {
	t.Helper()
	u := newUserHost(t, inGroup, filepath.Join("srv", "app"))
	f, app, deployer, shared, origin := u.f, u.app, u.deployer, u.shared, u.f.origin
	appPy, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "python-hello", "app.py"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(origin.dir, "app.py"), string(appPy))
	origin.commit() // v1: VERSION is what the app answers with

	s := &usersServer{fixture: f, app: app, deployer: deployer, pm: pm, listen: freeport.Addr(t),
		pmConf: filepath.Join(shared, "app.toml"), sock: filepath.Join(shared, "run", "app.sock")}
	writeFile(t, s.pmConf, fmt.Sprintf(`name = "app"
dir = %q
command = ["/usr/bin/python3", "app.py"]
workers = 2
listen = %q
socket = %q
user = %q
group = %q
stop_timeout = "5s"
[ready]
path = "/health"
timeout = "15s"
[log]
file = %q
`, filepath.Join(f.path, "current"), s.listen, s.sock, app.Name, app.Name, filepath.Join(shared, "log", "app.log")))
	f.writeINI("procmon "+s.pmConf, "env DEPLOY_PROCMON="+pm)
	return s
}

// startProcmon runs procmon as root, as the unit does, until the test ends.
func (s *usersServer) startProcmon() {
	s.t.Helper()
	startProcmon(s.t, s.pm, s.pmConf)
}

// workerUIDs are the uids of procmon's workers, from its status (read as
// root) and /proc.
func (s *usersServer) workerUIDs() []int {
	s.t.Helper()
	out, err := exec.Command(s.pm, "status", "--json", "-c", s.pmConf).Output()
	if err != nil {
		s.t.Fatalf("procmon status as root: %v", err)
	}
	var st struct {
		Workers []struct{ PID int } `json:"workers"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		s.t.Fatal(err)
	}
	var uids []int
	for _, w := range st.Workers {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.PID))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				uid, _ := strconv.Atoi(strings.Fields(rest)[0])
				uids = append(uids, uid)
			}
		}
	}
	return uids
}

func mkdirOwned(t *testing.T, dir string, owner testusers.Account) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chown(t, dir, owner)
}

func chown(t *testing.T, path string, owner testusers.Account) {
	t.Helper()
	if err := os.Chown(path, owner.UID, owner.GID); err != nil {
		t.Fatal(err)
	}
}

// buildProcmonShared builds procmon where every user may run it.
func buildProcmonShared(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testusers.SharedDir(t), "procmon")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/procmon")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build procmon: %v\n%s", err, out)
	}
	return bin
}

// The production setup end to end, with a deploy user that is not root:
// procmon runs as root with user and group set, the app's workers run as
// the app user, and the deploy logs in over real sshd as the deploy user.
// In the group, the gate (procmon reload --wait, run by the deploy user)
// passes and the new release serves when deploy returns; status shows
// procmon serving current. Outside the group, the gate fails with a
// permission error (not "did not become ready"), current is put back and
// the old release never stopped serving, and status says permission
// denied and exits non-zero.
func TestDeployAsUserWithProcmonGroup(t *testing.T) {
	testusers.RequireRoot(t, "create the app and deploy users (useradd) and run procmon as root")
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("/usr/bin/python3 is needed for the sample app, run by a user without root's PATH")
	}
	pm := buildProcmonShared(t)

	t.Run("in the group", func(t *testing.T) { deployInGroup(t, pm) })
	t.Run("not in the group", func(t *testing.T) { deployNotInGroup(t, pm) })
}

// deployInGroup: the gate passes, the new release serves when deploy
// returns, the workers run as the app user, status shows procmon serving
// current.
func deployInGroup(t *testing.T, pm string) {
	s := newUsersServer(t, pm, true)
	s.mustRun("production", "setup")
	s.mustRun("production") // procmon is not running yet: the deploy says how to start it
	s.startProcmon()
	waitAnswer(t, s.listen, "hello from v1")
	uids := s.workerUIDs()
	if len(uids) == 0 {
		t.Error("no worker found to check its uid")
	}
	for _, uid := range uids {
		if uid != s.app.UID {
			t.Errorf("a worker runs as uid %d, want the app user %s (%d)", uid, s.app.Name, s.app.UID)
		}
	}

	s.origin.commit() // v2
	s.mustRun("production")
	if got := answer(s.listen); got != "hello from v2" {
		t.Fatalf("right after the deploy returned the app answers %q, want v2", got)
	}
	st := s.mustRun("production", "status", "--json")
	var row struct {
		Serving struct {
			Release       string `json:"release"`
			ServesCurrent bool   `json:"serves_current"`
		} `json:"serving"`
	}
	if err := json.Unmarshal([]byte(st.stdout), &row); err != nil || !row.Serving.ServesCurrent || row.Serving.Release != s.current() {
		t.Errorf("status --json: %v, want procmon serving current %s:\n%s", err, s.current(), st.stdout)
	}
	if table := s.mustRun("production", "status").stdout; !strings.Contains(table, s.current()+"  current  ") {
		t.Errorf("status table does not show procmon serving current:\n%s", table)
	}
}

// deployNotInGroup: the gate fails with a permission error, current is
// put back, the old release never stopped serving, and status says
// permission denied and exits non-zero.
func deployNotInGroup(t *testing.T, pm string) {
	s := newUsersServer(t, pm, false)
	s.mustRun("production", "setup")
	s.mustRun("production")
	s.startProcmon()
	waitAnswer(t, s.listen, "hello from v1")
	before := s.current()

	s.origin.commit() // v2
	r := s.run(ctxMinute(t), "production")
	if r.code == 0 || !strings.Contains(r.stderr, "exited with status 6: permission denied") || strings.Contains(r.stderr, "did not become ready") {
		t.Fatalf("deploy by a user outside procmon's group: exit %d, want a permission error from the gate:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, "permission denied on "+s.sock) {
		t.Errorf("the deploy does not show procmon's error naming the socket:\n%s%s", r.stdout, r.stderr)
	}
	if s.current() != before {
		t.Errorf("current = %s, want %s put back", s.current(), before)
	}
	if got := answer(s.listen); got != "hello from v1" {
		t.Errorf("after the refused gate the app answers %q, want v1 still", got)
	}

	st := s.run(ctxMinute(t), "production", "status")
	if st.code == 0 || !strings.Contains(st.stdout, "permission denied on "+s.sock) || strings.Contains(st.stdout+st.stderr, "procmon not running") ||
		!strings.Contains(st.stderr, "usermod -aG "+s.app.Name+" "+s.deployer.Name) {
		t.Errorf("status by a user outside procmon's group: exit %d, want non-zero, permission denied and the usermod to run:\n%s%s", st.code, st.stdout, st.stderr)
	}
}
