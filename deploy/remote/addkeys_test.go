package remote_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
)

// realAgent starts OpenSSH's ssh-agent on a socket of its own and returns
// the socket; it is stopped with the test.
func realAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("ssh-agent made no socket")
	return ""
}

// agentKeys is `ssh-add -l` on sock: one "bits fingerprint" per key (the
// comment left out: ssh puts the key's own there, deploy the file's
// path), or "" for none.
func agentKeys(t *testing.T, sock string) string {
	t.Helper()
	cmd := exec.Command("ssh-add", "-l")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	out, _ := cmd.Output() // exit 1: no identities
	var keys []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && strings.HasPrefix(f[1], "SHA256:") {
			keys = append(keys, f[0]+" "+f[1])
		}
	}
	return strings.Join(keys, "\n")
}

// TestAddKeysToAgentLikeSSH: with ssh_config AddKeysToAgent yes, ssh
// gives an encrypted key to the agent once its passphrase was typed, so
// the next ssh (and deploy) asks nothing; with a lifetime the agent drops
// it after. deploy asked for the passphrase on every command and gave the
// agent nothing. Now, on the same config, server and a real ssh-agent,
// deploy leaves the agent holding what ssh leaves it, and a second dial
// asks nothing.
func TestAddKeysToAgentLikeSSH(t *testing.T) {
	isolate(t)
	requireSSH(t)
	const pass = "correct horse"
	s, home := encryptedKeyServer(t, pass)
	for _, tc := range []struct{ value, held string }{
		{"yes", "held"}, {"no", ""}, {"confirm 3", "gone after 3 s"},
	} {
		t.Run(strings.ReplaceAll(tc.value, " ", "-"), func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config")
			writeFileT(t, cfg, fmt.Sprintf("Host web\n\tHostName 127.0.0.1\n\tPort %d\n\tUser %s\n\tIdentityFile %s\n\tUserKnownHostsFile %s\n\tAddKeysToAgent %s\n",
				s.Port(), s.User(), s.EncryptedKey().File, filepath.Join(home, ".ssh", "known_hosts"), tc.value))
			sock := realAgent(t)
			t.Setenv("SSH_AUTH_SOCK", sock)
			if asked, ok := sshAsks(t, cfg, pass); !ok || len(asked) != 1 {
				t.Fatalf("premise: ssh logged in %v, asked %q", ok, asked)
			}
			sshHeld := agentKeys(t, sock)
			if (sshHeld != "") != (tc.held != "") {
				t.Fatalf("premise: after ssh with AddKeysToAgent %s the agent holds %q", tc.value, sshHeld)
			}
			if out, err := exec.Command("ssh-add", "-D").CombinedOutput(); err != nil {
				t.Fatalf("ssh-add -D: %v %s", err, out)
			}
			forEachResolver(t, "dial", func(t *testing.T, res remote.Resolver) {
				a := &answering{answer: pass}
				o := remote.Options{HomeDir: home, SSHConfigFile: cfg, Resolver: res, Prompt: a.prompt}
				c := dial(t, remote.Target{Host: "web"}, o)
				c.Close()
				if got := agentKeys(t, sock); got != sshHeld || len(a.prompts) != 1 {
					t.Fatalf("after deploy's login (asked %q) the agent holds %q; after ssh's, %q", a.prompts, got, sshHeld)
				}
				if tc.held == "held" { // the next command asks nothing
					a.prompts = nil
					c := dial(t, remote.Target{Host: "web"}, o)
					c.Close()
					if len(a.prompts) != 0 {
						t.Errorf("a second login asked %q with the key in the agent", a.prompts)
					}
				}
				if tc.held == "gone after 3 s" { // the lifetime leaves room for a loaded machine's ssh-add -l
					time.Sleep(3500 * time.Millisecond)
					if got := agentKeys(t, sock); got != "" {
						t.Errorf("the agent still holds %q after its 3 s lifetime", got)
					}
				}
				_ = exec.Command("ssh-add", "-D").Run()
			})
		})
	}
}
