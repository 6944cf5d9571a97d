package remote_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
)

// TestRemoteCommandIsRefusedLikeSSH: ssh_config RemoteCommand (`sudo -iu
// deploy`, `tmux attach`: set for interactive logins) makes OpenSSH
// refuse any command line for that host, before it connects ("Cannot
// execute command-line and remote command", exit 255). deploy ignored
// it, and so ran its commands as the login user where `ssh host` works
// as another. Now Run refuses too, with no session opened, naming the
// setting and where it is; logging in without a command (trust) still
// works, as `ssh host` does, and RemoteCommand none in a block read
// first lets a deploy alias run commands.
func TestRemoteCommandIsRefusedLikeSSH(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	config := fmt.Sprintf(`Host deploy-web
	RemoteCommand none
Host web deploy-web
	HostName 127.0.0.1
	Port %d
	User %s
	RemoteCommand sudo -iu deploy
`, s.Port(), s.User())
	home := sshtest.FakeHome(t, config, s)
	cfg := filepath.Join(home, ".ssh", "config")

	// OpenSSH itself, on the same file
	requireSSH(t)
	cmd := exec.Command("ssh", "-F", cfg, "-o", "BatchMode=yes", "-o", "UserKnownHostsFile="+filepath.Join(home, ".ssh", "known_hosts"), "web", "true")
	var sshErr bytes.Buffer
	cmd.Stderr = &sshErr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 255 || !strings.Contains(sshErr.String(), "Cannot execute command-line and remote command") {
		t.Fatalf("premise: ssh with RemoteCommand and a command: %v, %q; want exit 255 and its refusal", err, sshErr.String())
	}

	forEachResolver(t, "remotecommand", func(t *testing.T, res remote.Resolver) {
		stats := &remote.Stats{}
		o := remote.Options{HomeDir: home, Resolver: res, Stats: stats}
		lines, err := remote.Describe(remote.Target{Host: "web"}, o)
		if err != nil || !strings.Contains(strings.Join(lines, "\n"), "\nremotecommand sudo -iu deploy\n") {
			t.Errorf("Describe: %v\n%s\nwant the remotecommand line ssh -G prints", err, strings.Join(lines, "\n"))
		}
		c := dial(t, remote.Target{Host: "web"}, o) // a login without a command, as trust makes
		var out bytes.Buffer
		err = c.Run(ctxT(t), "echo ran", nil, &out, &out)
		msg := fmt.Sprint(err)
		if err == nil || !strings.Contains(msg, `ssh_config sets RemoteCommand "sudo -iu deploy" for web (`) ||
			!strings.Contains(msg, "Cannot execute command-line and remote command") || out.Len() != 0 {
			t.Fatalf("Run with RemoteCommand: %v, output %q; want the refusal", err, out.String())
		}
		if res == remote.ResolveBuiltin && !strings.Contains(msg, cfg+":7)") {
			t.Errorf("the refusal %q does not name %s:7", msg, cfg)
		}
		if !strings.Contains(hint.Of(err), "RemoteCommand none") {
			t.Errorf("hint %q", hint.Of(err))
		}
		if n := stats.Sessions.Load(); n != 0 {
			t.Errorf("%d sessions opened; want none", n)
		}
		d := dial(t, remote.Target{Host: "deploy-web"}, o)
		if got := output(t, d, "echo ran"); got != "ran\n" {
			t.Errorf("deploy-web (RemoteCommand none first): %q", got)
		}
	})
}
