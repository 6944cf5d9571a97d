package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testusers"
)

// TestSecondFactorAtTheTerminal: a server whose sshd_config asks a second
// factor after the key (AuthenticationMethods
// publickey,keyboard-interactive, a password through PAM here, a one-time
// code in real life). The deploy binary, run on a terminal of its own (a
// pseudo-terminal the test holds), asks the question there in ssh's
// words, takes the answer and goes on to the server's script; run
// without a terminal it fails saying the key was accepted and what the
// server asked, with the sshd_config change that exempts the deploy
// user.
func TestSecondFactorAtTheTerminal(t *testing.T) {
	bin := buildDeploy(t)
	const secret = "s3cret-Pw 1"
	deployer, sshd := secondFactorServer(t, secret)
	shared := testusers.SharedDir(t)
	origin := &originRepo{t: t, dir: filepath.Join(shared, "origin")}
	origin.git("init", "-q", "-b", "main", origin.dir)
	f := &fixture{t: t, sshd: sshd, origin: origin, home: sshtest.FakeHome(t, "", sshd), path: filepath.Join(shared, "app")}
	f.writeINI()
	env := append(homeEnv(f.home), "SSH_AUTH_SOCK=")

	// on a terminal: the question, the answer, then the server's script
	out, code := runOnTerminal(t, bin, env, []string{"(" + deployer.Name + "@127.0.0.1) Password: "}, secret, "-c", f.conf, "production", "exec", "--", "true")
	if strings.Count(out, "Password:") != 1 || !strings.Contains(out, "exec: nothing is deployed yet at "+f.path) ||
		strings.Contains(out, "log in to") || code == 0 {
		t.Errorf("deploy on a terminal (exit %d):\n%s\nwant the question once, then the server's own answer (nothing deployed)", code, out)
	}

	// a fleet on a terminal: the hosts log in at once, their questions
	// come one at a time, and the live lines do not redraw over one
	// while it waits (they tick every 250 ms)
	sshd2 := sshtest.Start(t, sshtest.Options{User: deployer.Name, ExtraConfig: []string{"UsePAM yes",
		"KbdInteractiveAuthentication yes", "AuthenticationMethods publickey,keyboard-interactive"}})
	sshd2.AuthorizeKey(t, sshd.ClientKey().Public())
	kh, err := os.OpenFile(filepath.Join(f.home, ".ssh", "known_hosts"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(kh, sshd2.KnownHostsLine())
	kh.Close()
	fleet := filepath.Join(t.TempDir(), "fleet.conf")
	writeFile(t, fleet, fmt.Sprintf("[production]\nuser %s\nhosts %s %s\nrepo %s\npath %s\n",
		deployer.Name, sshd.Addr(), sshd2.Addr(), origin.dir, f.path))
	out, _ = runOnTerminal(t, bin, env, []string{"Password: ", "Password: "}, secret, "-c", fleet, "production")
	if strings.Count(out, "Password:") != 2 || strings.Contains(out, "log in to") {
		t.Errorf("a fleet deploy on a terminal:\n%q\nwant two questions, one per host, and no login failure", out)
	}
	for i, part := range strings.Split(out, "Password: ")[1:] {
		if q := strings.Index(part, "\n"); q < 0 || strings.Contains(part[:q], "\x1b[") {
			t.Errorf("question %d: the terminal changed before it was answered: %q", i+1, part[:min(len(part), 200)])
		}
	}

	// no terminal: the key was fine, say what the server wants
	cmd := exec.Command(bin, "-c", f.conf, "production", "exec", "--", "true")
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if err == nil || !strings.Contains(stderr.String(), `the server accepted a key, then asked for keyboard-interactive ("Password:")`) ||
		!strings.Contains(stderr.String(), "Match User "+deployer.Name) || strings.Contains(stderr.String(), "no key was accepted") {
		t.Errorf("deploy without a terminal: %v\n%s\nwant the accepted key and the second factor named", err, stderr.String())
	}
}

// secondFactorServer adds a user whose password is secret and starts an
// sshd that logs them in with their key and then that password, asked
// through PAM (AuthenticationMethods publickey,keyboard-interactive).
func secondFactorServer(t *testing.T, secret string) (testusers.Account, *sshtest.Server) {
	t.Helper()
	deployer := testusers.AddUser(t)
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(deployer.Name + ":" + secret + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	return deployer, sshtest.Start(t, sshtest.Options{User: deployer.Name, ExtraConfig: []string{"UsePAM yes",
		"KbdInteractiveAuthentication yes", "AuthenticationMethods publickey,keyboard-interactive"}})
}

// runOnTerminal runs bin with args on a new pseudo-terminal as its
// controlling terminal, types answer each time the next of prompts has
// appeared (waiting 600 ms, two of the live lines' ticks, before it
// types), and returns everything written to the terminal and the exit
// code.
func runOnTerminal(t *testing.T, bin string, env []string, prompts []string, answer string, args ...string) (string, int) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/pts/%d: %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	read := make(chan struct{})
	go func() { // until the terminal closes (EIO once the child is gone)
		defer close(read)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			mu.Lock()
			out.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	from := 0
	for _, prompt := range prompts {
		for deadline := time.Now().Add(time.Minute); !strings.Contains(seen()[from:], prompt); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("no %q on the terminal within a minute:\n%q", prompt, seen())
			}
		}
		time.Sleep(600 * time.Millisecond)
		s := seen()
		from = strings.Index(s[from:], prompt) + from + len(prompt)
		if _, err := master.Write([]byte(answer + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	_ = cmd.Wait()
	select {
	case <-read:
	case <-time.After(5 * time.Second):
	}
	return seen(), cmd.ProcessState.ExitCode()
}

// TestSecondFactorThroughControlMaster: the user's ~/.ssh/config shares
// connections (ControlMaster auto, ControlPath, as many do to type a
// server's one-time code once), and an ssh master to the server that asks
// a second factor is running. `ssh host cmd` then asks nothing; deploy
// asked again (and, with no terminal, failed). Now a whole deploy and an
// exec go through the master with no terminal and no new login, the
// console gets its terminal through it, and once the master has exited
// deploy asks again, as ssh would.
func TestSecondFactorThroughControlMaster(t *testing.T) {
	bin := buildDeploy(t)
	const secret = "s3cret-Pw 2"
	deployer, sshd := secondFactorServer(t, secret)
	cm, err := os.MkdirTemp("", "cm") // a socket's path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cm) })
	shared := testusers.SharedDir(t)
	origin := &originRepo{t: t, dir: filepath.Join(shared, "origin")}
	origin.git("init", "-q", "-b", "main", origin.dir)
	origin.commit()
	home := sshtest.FakeHome(t, fmt.Sprintf("Host 127.0.0.1\n\tUser %s\n\tPort %d\n\tControlMaster auto\n\tControlPath %s/%%C\n",
		deployer.Name, sshd.Port(), cm), sshd)
	f := &fixture{t: t, sshd: sshd, origin: origin, home: home, path: filepath.Join(shared, "app")}
	mkdirOwned(t, f.path, deployer)
	gitconfig := filepath.Join(deployer.Home, ".gitconfig") // the origin is root's
	writeFile(t, gitconfig, "[safe]\n\tdirectory = "+origin.dir+"\n\tdirectory = "+origin.dir+"/.git\n")
	chown(t, gitconfig, deployer)
	f.writeINI()
	env := append(homeEnv(f.home), "SSH_AUTH_SOCK=")

	// the user's master: real ssh, the code typed once (SSH_ASKPASS)
	askpass := filepath.Join(t.TempDir(), "askpass")
	writeFile(t, askpass, "#!/bin/sh\necho '"+secret+"'\n")
	if err := os.Chmod(askpass, 0o755); err != nil {
		t.Fatal(err)
	}
	ssh := startSSHMaster(t, home, "127.0.0.1", append(env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force"))
	logins := func() int { return strings.Count(sshd.Logs(), "Accepted keyboard-interactive") }
	waitLogins(t, sshd, logins, 1) // the master's, with the second factor

	// no terminal: setup, a deploy and exec, through the master
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"-c", f.conf}, args...)...)
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{{"production", "setup"}, {"production"}, {"production", "exec", "cat VERSION"}} {
		if out, err := run(args...); err != nil || len(args) > 1 && args[1] == "exec" && out != "v1\n" {
			t.Fatalf("deploy %v through the master: %v\n%s", args, err, out)
		}
	}
	if f.currentSHA() != f.origin.git("-C", f.origin.dir, "rev-parse", "HEAD") {
		t.Errorf("current is at %s after the deploy through the master", f.currentSHA())
	}
	// the console on a terminal, through the master: the shell's tty is
	// one the master's sshd made
	out, code := runOnTerminal(t, bin, env, []string{"$ "}, "tty; exit", "-c", f.conf, "production", "console")
	if code != 0 || !strings.Contains(out, "/dev/pts/") || strings.Contains(out, "not a tty") {
		t.Errorf("console through the master (exit %d):\n%q", code, out)
	}
	if n := logins(); n != 1 {
		t.Errorf("sshd accepted %d logins with the second factor, want the master's alone", n)
	}

	// the master gone: deploy logs in itself, and with no terminal
	// cannot answer the second factor
	if out, err := ssh("-O", "exit", "127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("ssh -O exit: %v %s", err, out)
	}
	if out, err := run("production", "exec", "--", "true"); err == nil || !strings.Contains(out, "then asked for keyboard-interactive") {
		t.Errorf("without the master: %v\n%s\nwant the second factor asked, with no one to answer", err, out)
	}
}
