package sshtest

import (
	"os"
	"path/filepath"
	"testing"
)

// loginAs makes name (Options.User) the login user, when it is not the
// user running the test. The authorized keys stay the same for every user;
// since sshd reads authorized_keys as the user logging in, the server's
// directory and its parent (t.TempDir()'s, mode 0700) become 0711 and
// authorized_keys 0644. The user must exist: create it with
// internal/testusers (its password "*" keeps it unlocked for sshd).
func (s *Server) loginAs(t testing.TB, name string) {
	t.Helper()
	if name == "" || name == s.user {
		return
	}
	s.user = name
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(s.dir), 0o711}, {s.dir, 0o711}, {s.authFile, 0o644}} {
		if err := os.Chmod(p.path, p.mode); err != nil {
			t.Fatalf("sshtest: open %s to login user %s: %v", p.path, name, err)
		}
	}
}
