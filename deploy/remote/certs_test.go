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

// signUserKey certifies pub (a .pub file) for principal with ssh-keygen
// and the CA key ca, writing <key>-cert.pub.
func signUserKey(t *testing.T, ca, pub, principal string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-s", ca, "-I", "deploy-test", "-n", principal, "-V", "-5m:+1h", pub).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -s: %v\n%s", err, out)
	}
	return strings.TrimSuffix(pub, ".pub") + "-cert.pub"
}

// A key the server does not list logs in with a certificate from a CA it
// trusts: next to the key (<key>-cert.pub, found automatically) or named
// by CertificateFile.
func TestLiveCertificate(t *testing.T) {
	isolate(t)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen (openssh-client) not found")
	}
	caDir := t.TempDir()
	ca := sshtest.NewKey(t, filepath.Join(caDir, "ca"), "")
	s := sshtest.Start(t, sshtest.Options{ExtraConfig: []string{"TrustedUserCAKeys " + ca.File + ".pub"}})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
	key := sshtest.NewKey(t, filepath.Join(home, ".ssh", "id_user"), "") // not in authorized_keys
	cert := signUserKey(t, ca.File, key.File+".pub", s.User())
	moved := filepath.Join(home, "certs", "user.pub")
	config := fmt.Sprintf(`Host auto named none
	HostName 127.0.0.1
	Port %d
	IdentityFile ~/.ssh/id_user
Host named
	CertificateFile %s
`, s.Port(), moved)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	forEachResolver(t, "cert", func(t *testing.T, res remote.Resolver) {
		o := remote.Options{HomeDir: home, Resolver: res}
		c := dial(t, remote.Target{Host: "auto"}, o)
		if got := output(t, c, "echo certified"); got != "certified\n" {
			t.Fatalf("output %q", got)
		}
		c.Close()
	})
	wantContains(t, "sshd log", s.Logs(), "Accepted certificate ID \"deploy-test\"")

	if err := os.MkdirAll(filepath.Dir(moved), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cert, moved); err != nil {
		t.Fatal(err)
	}
	forEachResolver(t, "certificatefile", func(t *testing.T, res remote.Resolver) {
		o := remote.Options{HomeDir: home, Resolver: res}
		dial(t, remote.Target{Host: "named"}, o).Close()
		// Without the certificate the key alone is refused: the
		// certificate is what let it in.
		if _, err := remote.Dial(ctxT(t), remote.Target{Host: "none"}, o); err == nil {
			t.Fatal("Dial without a certificate succeeded")
		}
	})
}

// OpenSSH offers agent keys that match an IdentityFile first: with five
// other keys in the agent and MaxAuthTries 3, agent order fails with "Too
// many authentication failures".
func TestLiveIdentityFileKeysOfferedFirst(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{ExtraConfig: []string{"MaxAuthTries 3"}})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519.pub")
	var keys []any
	for i := range 5 {
		keys = append(keys, sshtest.NewKey(t, filepath.Join(t.TempDir(), fmt.Sprint("other", i)), "").Private)
	}
	sock := serveAgent(t, append(keys, s.ClientKey().Private)...)
	config := fmt.Sprintf("Host h\n\tHostName 127.0.0.1\n\tPort %d\n\tIdentityFile ~/.ssh/id_ed25519\n", s.Port())
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	forEachResolver(t, "h", func(t *testing.T, res remote.Resolver) {
		c := dial(t, remote.Target{Host: "h"}, remote.Options{HomeDir: home, AgentSocket: sock, Resolver: res})
		output(t, c, "true")
	})
}

// HostKeyAlias names the host in known_hosts; StrictHostKeyChecking
// accept-new records a first-seen key (under the alias); no is refused.
func TestLiveHostKeyAliasAndStrictChecking(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	kh := filepath.Join(home, ".ssh", "known_hosts")
	config := fmt.Sprintf(`Host aliased new off
	HostName 127.0.0.1
	Port %d
Host aliased
	HostKeyAlias web.prod
Host new
	HostKeyAlias fresh.prod
	StrictHostKeyChecking accept-new
Host off
	StrictHostKeyChecking no
`, s.Port())
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// known_hosts knows the key only under the alias.
	line := strings.Replace(s.KnownHostsLine(), fmt.Sprintf("[127.0.0.1]:%d", s.Port()), "web.prod", 1)
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	forEachResolver(t, "alias", func(t *testing.T, res remote.Resolver) {
		o := remote.Options{HomeDir: home, Resolver: res}
		dial(t, remote.Target{Host: "aliased"}, o).Close()
		dial(t, remote.Target{Host: "new"}, o).Close()
		b, err := os.ReadFile(kh)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\nfresh.prod ssh-ed25519 ") || strings.Count(string(b), "fresh.prod") != 1 {
			t.Errorf("known_hosts = %q, want one line for fresh.prod (the alias, no address)", b)
		}
		_, err = remote.Dial(ctxT(t), remote.Target{Host: "off"}, o)
		if err == nil {
			t.Fatal("StrictHostKeyChecking no was accepted")
		}
		wantContains(t, "error", err.Error(), "StrictHostKeyChecking no")
		wantContains(t, "hint", hint.Of(err), "accept-new")
	})
}
