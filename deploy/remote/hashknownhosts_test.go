package remote_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

// TestNewHostKeyIsWrittenAsSSHWritesIt: Debian's and Ubuntu's
// /etc/ssh/ssh_config set HashKnownHosts yes, so ssh writes a new host's
// name hashed (|1|salt|hash), and since OpenSSH 8.5 (CheckHostIP no) the
// name alone; with CheckHostIP yes the address too, but never a loopback
// one. deploy wrote "name,address" in clear whatever the config said,
// leaving the host names a user chose to hide readable in known_hosts.
// Now it writes what real ssh writes on the same config and server: the
// same line in clear, or as many hashed lines, which ssh-keygen -F finds
// under the same name and which ssh then accepts.
func TestNewHostKeyIsWrittenAsSSHWritesIt(t *testing.T) {
	isolate(t)
	requireSSH(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	port := strconv.Itoa(s.Port())
	name := "[localhost]:" + port
	for _, hash := range []string{"no", "yes"} {
		for _, checkIP := range []string{"no", "yes"} {
			t.Run("HashKnownHosts="+hash+",CheckHostIP="+checkIP, func(t *testing.T) {
				dir := t.TempDir()
				sshFile := filepath.Join(dir, "ssh_known_hosts")
				cfgFor := func(file string) string {
					cfg := filepath.Join(dir, "config-"+filepath.Base(file))
					writeFileT(t, cfg, fmt.Sprintf("Host web\n\tHostName localhost\n\tPort %s\n\tUser %s\n\tIdentityFile %s\n\tIdentitiesOnly yes\n\tUserKnownHostsFile %s\n\tGlobalKnownHostsFile /dev/null\n\tStrictHostKeyChecking accept-new\n\tHashKnownHosts %s\n\tCheckHostIP %s\n",
						port, s.User(), filepath.Join(home, ".ssh", "id_ed25519"), file, hash, checkIP))
					return cfg
				}
				if out, err := exec.Command("ssh", "-F", cfgFor(sshFile), "-o", "BatchMode=yes", "web", "true").CombinedOutput(); err != nil {
					t.Fatalf("premise: ssh accept-new: %v %s", err, out)
				}
				sshLines := readLines(t, sshFile)
				forEachResolver(t, "record", func(t *testing.T, res remote.Resolver) {
					file := filepath.Join(t.TempDir(), "deploy_known_hosts")
					cfg := cfgFor(file)
					c := dial(t, remote.Target{Host: "web"}, remote.Options{HomeDir: home, SSHConfigFile: cfg, Resolver: res})
					c.Close()
					lines := readLines(t, file)
					if hash == "no" {
						if strings.Join(lines, "\n") != strings.Join(sshLines, "\n") {
							t.Errorf("deploy wrote\n%s\nssh wrote\n%s", strings.Join(lines, "\n"), strings.Join(sshLines, "\n"))
						}
					} else if len(lines) != len(sshLines) {
						t.Errorf("deploy wrote %d lines, ssh %d:\n%s\n%s", len(lines), len(sshLines), strings.Join(lines, "\n"), strings.Join(sshLines, "\n"))
					}
					for i, l := range lines {
						if (hash == "yes") != strings.HasPrefix(l, "|1|") || i >= len(sshLines) ||
							strings.SplitN(l, " ", 2)[1] != strings.SplitN(sshLines[i], " ", 2)[1] {
							t.Errorf("line %d: %q; ssh wrote %q", i+1, l, sshLines)
						}
					}
					if out, err := exec.Command("ssh-keygen", "-F", name, "-f", file).Output(); err != nil || !strings.Contains(string(out), "ssh-ed25519") {
						t.Errorf("ssh-keygen -F %s finds nothing in deploy's file: %v %s", name, err, out)
					}
					if out, err := exec.Command("ssh", "-F", cfg, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "web", "echo ok").CombinedOutput(); err != nil || !strings.HasSuffix(string(out), "ok\n") {
						t.Errorf("ssh with deploy's known_hosts: %v %s", err, out)
					}
				})
			})
		}
	}
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
