package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoginShellThatRunsNoScript: sshd runs every command through the
// deploy user's login shell, as it does ssh's, the classic deploy
// script's and Capistrano's. Under fish (which exits 0 after its syntax
// error: `setup` said "setup done" and `exec` succeeded, having run
// nothing) and nologin (what `adduser --system` gives), every command
// now fails, saying that the login shell did not start deploy's script,
// why, and the usermod that fixes it; nothing is made on the server. A
// forced command in authorized_keys is named too. Under ksh, a POSIX
// login shell that is not bash, a deploy works.
func TestLoginShellThatRunsNoScript(t *testing.T) {
	requireTool(t, "fish")
	requireTool(t, "ksh")
	u := newUserHost(t, false, filepath.Join("srv", "app"))
	f := u.f
	head := f.origin.commit()
	f.writeINI()
	hint := "hint: give " + u.deployer.Name + " a POSIX login shell, on the server: sudo usermod --shell /bin/bash " + u.deployer.Name
	for _, tc := range []struct {
		shell, cause string
	}{
		{"/usr/bin/fish", "the login shell is fish, which reads no POSIX shell"},
		{"/usr/sbin/nologin", "a login shell such as /usr/sbin/nologin or /bin/false (what `adduser --system` and `useradd --system` give an account) runs no command"},
	} {
		setLoginShell(t, u.deployer.Name, tc.shell)
		for _, args := range [][]string{{"production", "setup"}, {"production"}, {"production", "exec", "echo ran"}} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			r := f.run(ctx, args...)
			cancel()
			if r.code == 0 || !strings.Contains(r.stderr, "the server's login shell did not start deploy's script (") ||
				!strings.Contains(r.stderr, tc.cause) || !strings.Contains(r.stderr, hint) ||
				strings.Contains(r.stdout, "setup done") || strings.Contains(r.stdout, "ran\n") {
				t.Errorf("under %s, deploy %v: exit %d\nstdout:\n%s\nstderr:\n%s\nwant a failure that says %q and %q",
					tc.shell, args, r.code, r.stdout, r.stderr, tc.cause, hint)
			}
		}
		if entries, err := os.ReadDir(f.path); err != nil || len(entries) != 0 {
			t.Fatalf("under %s the app's path holds %v (%v): want nothing made", tc.shell, entries, err)
		}
	}
	// A forced command (authorized_keys' command="…", as a backup-only
	// key has) runs instead of every command, under any login shell.
	setLoginShell(t, u.deployer.Name, "/usr/bin/ksh")
	auth := filepath.Join(f.sshd.Dir(), "authorized_keys")
	keys, err := os.ReadFile(auth)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, auth, "command=\"echo backups only\" "+strings.ReplaceAll(strings.TrimSpace(string(keys)), "\n", "\ncommand=\"echo backups only\" ")+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	r := f.run(ctx, "production", "setup")
	cancel()
	if r.code == 0 || !strings.Contains(r.stderr, "it exited 0, with nothing on stderr") ||
		!strings.Contains(r.stderr, `a forced command (ForceCommand in sshd_config, command="…" before the key in authorized_keys) runs instead of every command`) ||
		!strings.Contains(r.stderr, "or let deploy's key log in without a forced command") || strings.Contains(r.stdout, "setup done") {
		t.Errorf("with a forced command, setup: exit %d\nstdout:\n%s\nstderr:\n%s\nwant a failure that names the forced command", r.code, r.stdout, r.stderr)
	}
	writeFile(t, auth, string(keys))
	f.mustRun("production", "setup")
	f.mustRun("production")
	if got := f.currentSHA(); got != head {
		t.Errorf("under ksh current is %s, want the origin's %s", got, head)
	}
}

// setLoginShell gives user the login shell sshd runs its commands with.
func setLoginShell(t *testing.T, user, shell string) {
	t.Helper()
	if out, err := exec.Command("usermod", "--shell", shell, user).CombinedOutput(); err != nil {
		t.Fatalf("usermod --shell %s %s: %v: %s", shell, user, err, out)
	}
}
