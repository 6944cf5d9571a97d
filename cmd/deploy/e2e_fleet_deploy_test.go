package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/deploytool/deploy/internal/sshtest"
)

// A successful fleet deploy through the CLI: three real sshd "hosts", each
// with its own disk at the same path (a mount namespace per sshd), all
// named on one `hosts` line. Every host ends on the same new release, the
// summary says so, and --json's summary agrees with the disks.
func TestFleetDeployThroughCLI(t *testing.T) {
	f, hosts := newFleetFixture(t)
	f.mustRun("production", "setup")
	checkFleetDeploy(t, f, hosts)
}

// newFleetFixture is three real sshd "hosts", each with its own disk at the
// same path (a mount namespace per sshd), all on one `hosts` line, and
// deploy.conf with extra lines.
func newFleetFixture(t *testing.T, extra ...string) (*fixture, []*sshtest.Host) {
	f := &fixture{t: t, origin: newOrigin(t), home: t.TempDir()}
	useHome(t, f.home)
	t.Setenv("SSH_AUTH_SOCK", "")
	sshDir := filepath.Join(f.home, ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	client := sshtest.NewKey(t, filepath.Join(sshDir, "id_ed25519"), "")
	mount := t.TempDir()
	f.path = filepath.Join(mount, "app")
	var hosts []*sshtest.Host
	var names, known []string
	for range 3 {
		h := sshtest.StartHost(t, mount, sshtest.HostOptions{
			Options:   sshtest.Options{AuthorizedKeys: []ssh.PublicKey{client.Public()}},
			CleanHome: true,
		})
		hosts = append(hosts, h)
		names = append(names, fmt.Sprintf("%s:%d", h.Host(), h.Port()))
		known = append(known, h.KnownHostsLine())
	}
	writeFile(t, filepath.Join(sshDir, "known_hosts"), strings.Join(known, "\n")+"\n")
	f.conf = filepath.Join(t.TempDir(), "deploy.conf")
	writeFile(t, f.conf, strings.Join(append([]string{"[production]",
		"hosts " + strings.Join(names, " "),
		"user " + hosts[0].User(),
		"repo " + f.origin.dir,
		"path " + f.path,
		"ref origin/main",
	}, extra...), "\n")+"\n")
	return f, hosts
}

// releaseOn is the release current points at on host h.
func releaseOn(t *testing.T, h *sshtest.Host) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(h.Root, "app", "current"))
	if err != nil {
		t.Fatalf("host %s: %v", h.Addr(), err)
	}
	return filepath.Base(target)
}

func checkFleetDeploy(t *testing.T, f *fixture, hosts []*sshtest.Host) {
	out := f.mustRun("production").stdout
	if n := strings.Count(out, "unchecked: nothing checked"); n < 3 { // no gate in this config
		t.Errorf("summary shows %d hosts unchecked, want 3:\n%s", n, out)
	}
	first := releaseOn(t, hosts[0])
	for _, h := range hosts[1:] {
		if releaseOn(t, h) != first {
			t.Errorf("host %s is on %s, host 1 on %s", h.Addr(), releaseOn(t, h), first)
		}
	}

	sha := f.origin.commit()
	r := f.mustRun("production", "--json")
	_, sum := jsonLines(t, r.stdout)
	if !sum.OK || len(sum.Hosts) != 3 {
		t.Fatalf("--json summary %+v", sum)
	}
	for i, hs := range sum.Hosts {
		if hs.NewSHA != sha || hs.Outcome != "unchecked" || releaseOn(t, hosts[i]) != hs.NewRelease {
			t.Errorf("host %d: summary %+v, disk on %s, want sha %s deployed", i, hs, releaseOn(t, hosts[i]), sha)
		}
	}
}
