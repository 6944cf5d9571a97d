package sshtest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestHostsHaveTheirOwnDisk: two Hosts see their own Root at one shared
// path, writes through one do not show on the other, and the test's own
// namespace sees neither mount.
func TestHostsHaveTheirOwnDisk(t *testing.T) {
	mount := t.TempDir()
	client := NewKey(t, filepath.Join(t.TempDir(), "id"), "")
	var hosts []*Host
	for i := 0; i < 2; i++ {
		hosts = append(hosts, StartHost(t, mount, HostOptions{Options: Options{AuthorizedKeys: []ssh.PublicKey{client.Public()}}, CleanHome: i == 1}))
	}
	for i, h := range hosts {
		if err := os.WriteFile(filepath.Join(h.Root, "name"), []byte{byte('a' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range hosts {
		c, err := dial(t, h.Addr(), h.User(), h.KnownHostsFile(), client.Signer)
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		got := output(t, c, "cat "+filepath.Join(mount, "name")+"; touch "+filepath.Join(mount, "wrote"))
		home := output(t, c, "ls -A "+h.Home+" | wc -l")
		c.Close()
		if clean := home == "0\n"; clean != (i == 1) {
			t.Errorf("host %d: home %s holds %q entries, want it empty only with CleanHome", i, h.Home, home)
		}
		if got != string(rune('a'+i)) {
			t.Errorf("host %d sees %q at %s, want its own %q", i, got, mount, string(rune('a'+i)))
		}
		if _, err := os.Stat(filepath.Join(h.Root, "wrote")); err != nil {
			t.Errorf("host %d: a write at the mount did not land in its Root: %v", i, err)
		}
	}
	if ents, _ := os.ReadDir(mount); len(ents) != 0 {
		t.Errorf("the test's namespace sees %d entries at %s, want the mounts private", len(ents), mount)
	}
}
