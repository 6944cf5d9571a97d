package sshtest

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/deploytool/deploy/internal/testfs"
)

// Host is one machine of a simulated fleet: an sshd on its own loopback
// port running in its own mount namespace, where Root (a directory of this
// host only) is bind-mounted onto a path that every Host shares. Commands
// run through this sshd see Root's content at that path, so several Hosts
// have the same deploy path on separate disks, as real servers do.
type Host struct {
	*Server
	// Root is this host's own directory, seen by the test as is and by
	// the host's sessions at the shared path.
	Root string
	// Mount is the shared path Root is mounted on inside the host.
	Mount string
	// Home is the login user's home, as the host sees it: empty with
	// HostOptions.CleanHome.
	Home string

	cleanHome string // mounted on Home inside the host ("" = none)
}

// HostOptions tune a Host.
type HostOptions struct {
	// Options are as for Start.
	Options
	// CleanHome mounts an empty directory of the host's own over the login
	// user's home inside the host, so that the machine's ~/.bashrc (which
	// Debian's bash runs for every sshd command) does not run in its
	// sessions, as on a fresh server (false = the real home).
	CleanHome bool
}

// StartHost starts a Host whose own directory is mounted at mount (an
// existing directory, the same for every host of the test, typically a
// t.TempDir() made once). It needs root (mount namespaces): without it the
// test is skipped, or failed under DEPLOY_REQUIRE_SSHD=1. Give every host
// the same extra client key in opts.AuthorizedKeys to log in everywhere
// with one key. The sshd and its
// sessions are stopped in t.Cleanup; Restart and RotateHostKey are not
// supported (they would start sshd outside the namespace).
func StartHost(t testing.TB, mount string, opts HostOptions) *Host {
	t.Helper()
	requireSSHD(t)
	requireNamespaces(t)
	if fi, err := os.Stat(mount); err != nil || !fi.IsDir() {
		t.Fatalf("sshtest: mount point %s is not a directory: create it first (%v)", mount, err)
	}
	s := newServer(t, opts.Options)
	h := &Host{Server: s, Root: filepath.Join(s.dir, "root"), Mount: mount}
	if err := os.Mkdir(h.Root, 0o755); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	testfs.Thaw(t, h.Root) // a root deploy's cache entries are immutable
	if h.Home = homeOf(t); opts.CleanHome {
		h.cleanHome = filepath.Join(s.dir, "home")
		if err := os.Mkdir(h.cleanHome, 0o700); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("sshtest: host %s sshd log:\n%s", s.Addr(), s.Logs())
		}
	})
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		s.port = port(t)
		if err = h.start(); err == nil {
			writeFile(t, s.knownHosts, []byte(s.KnownHostsLine()+"\n"), 0o600)
			return h
		}
	}
	t.Fatalf("sshtest: start host: %v\nsshd log:\n%s", err, s.Logs())
	return nil
}

// homeOf returns the login user's home directory.
func homeOf(t testing.TB) string {
	t.Helper()
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		t.Fatalf("sshtest: home directory of the current user: %v", err)
	}
	return u.HomeDir
}

// requireNamespaces skips (or fails, under DEPLOY_REQUIRE_SSHD=1) a test
// that cannot make mount namespaces.
func requireNamespaces(t testing.TB) {
	t.Helper()
	_, err := exec.LookPath("unshare")
	if err == nil && os.Geteuid() == 0 {
		return
	}
	msg := "sshtest: fleet hosts need root and unshare(1) (util-linux) for mount namespaces"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1 requires them)", msg, RequireEnv)
	}
	t.Skip(msg)
}

// start runs sshd in a new mount namespace (private propagation, so the
// bind mount never leaks to the test's namespace) after mounting Root on
// Mount there, and returns once it greets clients.
func (h *Host) start() error {
	s := h.Server
	return s.launch(exec.Command("unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		`mount --bind "$1" "$2" && { [ -z "$5" ] || mount --bind "$5" "$6"; } && exec "$3" -D -e -f "$4"`,
		"sshtest-host", h.Root, h.Mount, SSHD, s.cfgFile, h.cleanHome, h.Home))
}
