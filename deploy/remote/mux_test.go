package remote_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
)

// sshMaster starts a real OpenSSH ControlMaster for alias of the config
// in home (ssh -M -N -f, persisting until the test ends) and returns a
// function that runs ssh -O cmd on it.
func sshMaster(t *testing.T, home, alias string) func(cmd string) (string, error) {
	t.Helper()
	requireSSH(t)
	ssh := func(args ...string) *exec.Cmd {
		return exec.Command("ssh", append([]string{"-F", filepath.Join(home, ".ssh", "config"), "-o", "BatchMode=yes",
			"-o", "IdentitiesOnly=yes", "-i", filepath.Join(home, ".ssh", "id_ed25519"),
			"-o", "UserKnownHostsFile=" + filepath.Join(home, ".ssh", "known_hosts")}, args...)...)
	}
	if out, err := ssh("-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-N", "-f", alias).CombinedOutput(); err != nil {
		t.Fatalf("premise: start an ssh master: %v\n%s", err, out)
	}
	ctl := func(cmd string) (string, error) {
		out, err := ssh("-O", cmd, alias).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = ctl("exit") })
	if out, err := ctl("check"); err != nil || !strings.Contains(out, "Master running") {
		t.Fatalf("premise: ssh -O check: %v %s", err, out)
	}
	return ctl
}

// logins counts the logins sshd accepted.
func logins(s *sshtest.Server) int { return strings.Count(s.Logs(), "Accepted publickey") }

// waitLogins waits (bounded) until sshd's log shows n logins: ssh -f
// returns once it is in, maybe before sshd has written the line.
func waitLogins(t *testing.T, s *sshtest.Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); logins(s) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("premise: sshd logged %d logins, want %d:\n%s", logins(s), n, s.Logs())
		}
	}
}

// TestControlMasterIsUsedLikeSSH: with ssh_config ControlPath naming the
// socket of a running ssh master (ControlMaster auto, ControlPersist: an
// everyday ~/.ssh/config), `ssh web cmd` logs in no more: its sessions
// go through the master. deploy logged in again for each command (and
// asked a second factor again). Now its sessions go through the master
// too, with their input, output, error output and exit status, and
// sshd sees no new login; with ControlMaster yes (ssh is then a master,
// not a client), or once the master has exited, it connects itself, as
// ssh does.
func TestControlMasterIsUsedLikeSSH(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	// a short directory: a socket's path has at most 107 bytes, and ssh
	// adds a random suffix to it while it binds
	dir, err := os.MkdirTemp("", "cm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	config := fmt.Sprintf(`Host web master-yes unchecked by-host
	HostName 127.0.0.1
	Port %[1]d
	User %[2]s
Host by-host
	ControlPath %[3]s/h-%%h
Host *
	ControlPath %[3]s/cm-%%C
Host web
	ControlMaster auto
Host master-yes
	ControlMaster yes
Host unchecked
	StrictHostKeyChecking no
`, s.Port(), s.User(), dir)
	home := sshtest.FakeHome(t, config, s)
	ctl := sshMaster(t, home, "web")
	sshMaster(t, home, "by-host")
	waitLogins(t, s, 2)
	base := logins(s)
	// premise: ssh itself goes through the master
	requireSSH(t)
	if out, err := exec.Command("ssh", "-F", filepath.Join(home, ".ssh", "config"), "-o", "BatchMode=yes", "web", "echo through").CombinedOutput(); err != nil ||
		string(out) != "through\n" || logins(s) != base {
		t.Fatalf("premise: ssh web through the master: %v %q, logins %d -> %d", err, out, base, logins(s))
	}
	forEachResolver(t, "mux", func(t *testing.T, res remote.Resolver) {
		o := remote.Options{HomeDir: home, Resolver: res}
		before := logins(s)
		c := dial(t, remote.Target{Host: "web"}, o)
		for i := range 2 {
			var out, errb bytes.Buffer
			err := c.Run(ctxT(t), "printf out; printf err >&2; cat; exit 3", strings.NewReader(fmt.Sprintf(" in %d", i)), &out, &errb)
			var ee *remote.ExitError
			if !errors.As(err, &ee) || ee.Status != 3 || out.String() != fmt.Sprintf("out in %d", i) || errb.String() != "err" {
				t.Errorf("session %d: %v, stdout %q, stderr %q; want exit 3, %q, %q", i+1, err, out.String(), errb.String(), fmt.Sprintf("out in %d", i), "err")
			}
		}
		if got := output(t, c, "echo ok"); got != "ok\n" {
			t.Errorf("echo ok: %q", got)
		}
		// the output that is still on its way when the exit status
		// comes is all there (closing the socket at the exit status
		// made the master drop it)
		want := seq(20000)
		for i := range 10 {
			if got := output(t, c, "seq 20000"); got != want {
				t.Errorf("seq 20000, session %d: %d bytes of %d", i+1, len(got), len(want))
			}
		}
		for i := range 40 { // a short output comes with the exit status
			if got := output(t, c, "echo short"); got != "short\n" {
				t.Errorf("echo short, session %d: %q", i+1, got)
			}
		}
		if n := logins(s); n != before {
			t.Errorf("sshd accepted %d new logins: deploy did not go through the master", n-before)
		}
		c.Close()
		// ControlMaster yes: ssh would be a master itself, not its client
		dial(t, remote.Target{Host: "master-yes"}, o)
		if n := logins(s); n != before+1 {
			t.Errorf("ControlMaster yes: %d new logins, want deploy's own", n-before)
		}
		// StrictHostKeyChecking no is refused, master or not (the same
		// socket: %C names the connection, not the alias)
		if _, err := remote.Dial(ctxT(t), remote.Target{Host: "unchecked"}, o); err == nil || !strings.Contains(err.Error(), "StrictHostKeyChecking no") {
			t.Errorf("StrictHostKeyChecking no with a master: %v, want the refusal", err)
		}
		// a socket named by the host alone may be another user's master:
		// deploy connects itself and says why
		var notes []string
		o.Logf = func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
		if got := output(t, dial(t, remote.Target{Host: "by-host"}, o), "echo own"); got != "own\n" || logins(s) != before+2 ||
			!strings.Contains(strings.Join(notes, "\n"), "does not name the user, host and port") {
			t.Errorf("a ControlPath of %%h alone: %q, %d new logins, notes %q; want deploy's own connection, said", got, logins(s)-before-1, notes)
		}
	})
	if out, err := ctl("exit"); err != nil {
		t.Fatalf("ssh -O exit: %v %s", err, out)
	}
	forEachResolver(t, "no-master", func(t *testing.T, res remote.Resolver) {
		before := logins(s)
		c := dial(t, remote.Target{Host: "web"}, remote.Options{HomeDir: home, Resolver: res})
		if got := output(t, c, "echo direct"); got != "direct\n" || logins(s) != before+1 {
			t.Errorf("with the master gone: %q, %d new logins; want deploy's own connection", got, logins(s)-before)
		}
	})
}

// TestDeadControlMasterIsSaid: the user's ssh master outlived its
// connection (the laptop slept, the network changed: here the link to
// sshd swallows every byte). ssh through it waits as long as TCP does; a
// deploy gives up after the connect timeout and says what to do, and once
// that master has exited it connects itself.
func TestDeadControlMasterIsSaid(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	link := sshtest.NewCutter(t, s.Addr())
	dir, err := os.MkdirTemp("", "cm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	config := fmt.Sprintf("Host web\n\tHostName 127.0.0.1\n\tPort %d\n\tUser %s\n\tConnectTimeout 2\n\tControlPath %s/%%C\n",
		link.Port(), s.User(), dir)
	home := sshtest.FakeHome(t, config, s)
	// the server's key under the address it is reached at, the link's
	writeFileT(t, filepath.Join(home, ".ssh", "known_hosts"), s.KnownHostsLineFor(link.Addr())+"\n")
	ctl := sshMaster(t, home, "web")
	link.Freeze()
	forEachResolver(t, "dead", func(t *testing.T, res remote.Resolver) {
		c := dial(t, remote.Target{Host: "web"}, remote.Options{HomeDir: home, Resolver: res})
		start := time.Now()
		err := c.Run(ctxT(t), "true", nil, nil, nil)
		if took := time.Since(start); err == nil || !strings.Contains(err.Error(), "has not opened a session in 2s") ||
			!strings.Contains(hint.Of(err), "ssh -O exit web") || took > 10*time.Second {
			t.Errorf("through a dead master: %v (hint %q) after %s; want the dead master said within about 2 s", err, hint.Of(err), took)
		}
	})
	if out, err := ctl("exit"); err != nil {
		t.Fatalf("ssh -O exit: %v %s", err, out)
	}
	link.Thaw()
	c := dial(t, remote.Target{Host: "web"}, remote.Options{HomeDir: home})
	if got := output(t, c, "echo direct"); got != "direct\n" {
		t.Errorf("with the master gone: %q", got)
	}
}

// seq is what `seq n` prints.
func seq(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}
