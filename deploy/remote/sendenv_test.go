package remote_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

// TestSendEnvAndSetEnvLikeSSH: ssh_config SendEnv and SetEnv give every
// session variables (Debian's /etc/ssh/ssh_config sends LANG and LC_*,
// and its sshd accepts them, so a hook run by ssh sees the laptop's
// locale). deploy sent none, so the same hook ran with another locale
// and without the SetEnv a config gives the host. Now each session gets
// what real ssh gives it on the same file against the same sshd: the
// local variables SendEnv names (less a "-pattern" removal), then the
// first applying SetEnv line's (overriding), and sshd's AcceptEnv keeps
// what it allows. A variable named by neither, or refused by sshd, is
// not there.
func TestSendEnvAndSetEnvLikeSSH(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{ExtraConfig: []string{"AcceptEnv DEPLOYTEST_* LC_*"}})
	config := fmt.Sprintf(`Host web
	HostName 127.0.0.1
	Port %d
	User %s
	SendEnv LC_* DEPLOYTEST_SENT DEPLOYTEST_GONE OTHERTEST_REFUSED
	SendEnv -DEPLOYTEST_GONE
	SetEnv "DEPLOYTEST_SET=two words" DEPLOYTEST_OVER=setenv DEPLOYTEST_SET=repeated
Host *
	SendEnv DEPLOYTEST_OVER
	SetEnv DEPLOYTEST_LATER=ignored
`, s.Port(), s.User())
	home := sshtest.FakeHome(t, config, s)
	cfg := filepath.Join(home, ".ssh", "config")
	for k, v := range map[string]string{"DEPLOYTEST_SENT": "from the laptop", "DEPLOYTEST_GONE": "removed",
		"OTHERTEST_REFUSED": "not accepted", "DEPLOYTEST_OVER": "laptop", "DEPLOYTEST_UNNAMED": "x", "LC_TIME": "C.UTF-8"} {
		t.Setenv(k, v)
	}
	const show = "env | grep -E '^(DEPLOYTEST|OTHERTEST)_|^LC_TIME=' | LC_ALL=C sort"
	const want = "DEPLOYTEST_OVER=setenv\nDEPLOYTEST_SENT=from the laptop\nDEPLOYTEST_SET=two words\nLC_TIME=C.UTF-8\n"

	// OpenSSH itself, on the same file, against the same sshd
	requireSSH(t)
	cmd := exec.Command("ssh", "-F", cfg, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-i", filepath.Join(home, ".ssh", "id_ed25519"), "-o", "UserKnownHostsFile="+filepath.Join(home, ".ssh", "known_hosts"), "web", show)
	var sshOut, sshErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sshOut, &sshErr
	if err := cmd.Run(); err != nil || sshOut.String() != want {
		t.Fatalf("premise: ssh web: %v, %q (stderr %q); want %q", err, sshOut.String(), sshErr.String(), want)
	}

	forEachResolver(t, "sendenv", func(t *testing.T, res remote.Resolver) {
		o := remote.Options{HomeDir: home, Resolver: res}
		c := dial(t, remote.Target{Host: "web"}, o)
		for i := range 2 { // every session, not just the first
			if got := output(t, c, show); got != sshOut.String() {
				t.Errorf("session %d: deploy's session has\n%s\nssh's has\n%s", i+1, got, sshOut.String())
			}
		}
		lines, err := remote.Describe(remote.Target{Host: "web"}, o)
		all := strings.Join(lines, "\n") + "\n"
		for _, l := range []string{"sendenv LC_*\nsendenv DEPLOYTEST_SENT\nsendenv OTHERTEST_REFUSED\nsendenv DEPLOYTEST_OVER\n",
			"setenv DEPLOYTEST_SET=two words\nsetenv DEPLOYTEST_OVER=setenv\n"} {
			if err != nil || !strings.Contains(all, l) {
				t.Errorf("Describe: %v\n%s\nwant the lines\n%s", err, all, l)
			}
		}
	})
}

// TestBadSendEnvOrSetEnvIsRefusedLikeSSH: ssh refuses to start on
// `SendEnv A=1` ("Invalid environment name") and `SetEnv A`
// ("Invalid SetEnv"); the built-in reader refuses them too, naming the
// line, rather than sending something else.
func TestBadSendEnvOrSetEnvIsRefusedLikeSSH(t *testing.T) {
	isolate(t)
	for _, tc := range []struct{ line, sshSays string }{
		{"SendEnv LANG=C", "Invalid environment name"},
		{"SetEnv RAILS_ENV", "Invalid SetEnv"},
	} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "config")
		if err := os.WriteFile(cfg, []byte("Host web\n\tHostName 127.0.0.1\n\t"+tc.line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		requireSSH(t)
		if out, err := exec.Command("ssh", "-G", "-F", cfg, "web").CombinedOutput(); err == nil || !strings.Contains(string(out), tc.sshSays) {
			t.Fatalf("premise: ssh -G with %q: %v, %s", tc.line, err, out)
		}
		forEachResolver(t, "bad", func(t *testing.T, res remote.Resolver) {
			_, err := remote.Describe(remote.Target{Host: "web"}, remote.Options{HomeDir: dir, SSHConfigFile: cfg, Resolver: res})
			if err == nil || !strings.Contains(err.Error(), tc.sshSays) {
				t.Errorf("%q: %v; want ssh's %q", tc.line, err, tc.sshSays)
			}
			if res == remote.ResolveBuiltin && (err == nil || !strings.Contains(err.Error(), cfg+":3")) {
				t.Errorf("%q: %v; want it to name %s:3", tc.line, err, cfg)
			}
		})
	}
}
