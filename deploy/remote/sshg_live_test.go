package remote_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
)

// liveConfig writes an ssh_config into home/.ssh/config (absolute paths
// only, so the real ssh, whose ~ is the login user's home, reads the same)
// and returns its path.
func liveConfig(t *testing.T, home, config string) string {
	t.Helper()
	file := filepath.Join(home, ".ssh", "config")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// realSSH runs the OpenSSH client with -F file on alias and returns what
// cmd printed.
func realSSH(t *testing.T, file, alias, cmd string) string {
	t.Helper()
	c := exec.Command("ssh", "-F", file, "-o", "BatchMode=yes", "-T", alias, cmd)
	c.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -F %s %s: %v\n%s", file, alias, err, out)
	}
	return string(out)
}

// serverPort is the server side port of a session: SSH_CONNECTION's third
// field.
func serverPort(t *testing.T, sshConnection string) string {
	t.Helper()
	f := strings.Fields(sshConnection)
	if len(f) != 4 {
		t.Fatalf("SSH_CONNECTION = %q", sshConnection)
	}
	return f[0] + " " + f[2] + ":" + f[3]
}

// Two sshds; Match host (on the HostName, not the alias) and a Host line
// with tabs route aliases to the second. The tool must reach the same
// user@host:port as ssh, through ssh -G and through the built-in reader.
func TestLiveRoutingMatchesSSH(t *testing.T) {
	isolate(t)
	requireSSH(t)
	first := sshtest.Start(t, sshtest.Options{})
	second := sshtest.Start(t, sshtest.Options{})
	second.AuthorizeKey(t, first.ClientKey().Public())
	home := sshtest.FakeHome(t, "", first, second)
	file := liveConfig(t, home, fmt.Sprintf(`Host app
	HostName 127.0.0.1
Match host 127.0.0.1 originalhost app
	Port %[2]d
Host	tabbed	other
	HostName 127.0.0.1
	Port %[2]d
Host *
	Port %[1]d
	User %[3]s
	IdentityFile %[4]s/.ssh/id_ed25519
	UserKnownHostsFile %[4]s/.ssh/known_hosts
	IdentitiesOnly yes
`, first.Port(), second.Port(), second.User(), home))

	for _, alias := range []string{"app", "tabbed", "127.0.0.1"} {
		ssh := serverPort(t, realSSH(t, file, alias, "echo $SSH_CONNECTION"))
		forEachResolver(t, alias, func(t *testing.T, res remote.Resolver) {
			c := dial(t, remote.Target{Host: alias}, remote.Options{HomeDir: home, SSHConfigFile: file, Resolver: res})
			if got := serverPort(t, output(t, c, "echo $SSH_CONNECTION")); got != ssh {
				t.Errorf("the tool reached %s (%s), ssh reached %s", got, c, ssh)
			}
			if alias != "127.0.0.1" && c.String() != second.User()+"@"+second.Addr() {
				t.Errorf("Client = %s, want the second server %s@%s", c, second.User(), second.Addr())
			}
		})
	}
	if !strings.Contains(second.Logs(), "Accepted publickey") {
		t.Error("the second server's log shows no login")
	}
}

// ProxyCommand carries the connection (here `ssh -W` through a jump
// host, the usual bastion shape), with %h %p expanded.
func TestLiveProxyCommand(t *testing.T) {
	isolate(t)
	requireSSH(t)
	jump := sshtest.Start(t, sshtest.Options{ExtraConfig: []string{"LogLevel DEBUG1"}})
	dest := sshtest.Start(t, sshtest.Options{})
	dest.AuthorizeKey(t, jump.ClientKey().Public())
	home := sshtest.FakeHome(t, "", jump, dest)
	file := liveConfig(t, home, fmt.Sprintf(`Host viaproxy
	HostName 127.0.0.1
	Port %[2]d
	ProxyCommand ssh -F %[4]s/.ssh/config -o BatchMode=yes -W %%h:%%p jumphost
Host jumphost
	HostName 127.0.0.1
	Port %[1]d
Host broken
	HostName 127.0.0.1
	ProxyCommand echo proxy-was-here >&2; exit 3
Host *
	User %[3]s
	IdentityFile %[4]s/.ssh/id_ed25519
	UserKnownHostsFile %[4]s/.ssh/known_hosts
`, jump.Port(), dest.Port(), dest.User(), home))

	forEachResolver(t, "viaproxy", func(t *testing.T, res remote.Resolver) {
		o := remote.Options{HomeDir: home, SSHConfigFile: file, Resolver: res}
		c := dial(t, remote.Target{Host: "viaproxy"}, o)
		if got := output(t, c, "echo $SSH_CONNECTION"); !strings.Contains(got, fmt.Sprint(dest.Port())) {
			t.Errorf("SSH_CONNECTION = %q, want the destination's port %d", got, dest.Port())
		}
		c.Close()
		_, err := remote.Dial(ctxT(t), remote.Target{Host: "broken"}, o)
		if err == nil {
			t.Fatal("Dial through a ProxyCommand that exits succeeded")
		}
		wantContains(t, "error", err.Error(), "proxy-was-here")
		wantContains(t, "hint", hint.Of(err), "ProxyCommand")
	})
	wantContains(t, "jump sshd log", jump.Logs(), fmt.Sprintf("target 127.0.0.1 port %d", dest.Port()))
}
