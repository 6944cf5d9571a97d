package sshtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FakeHome writes a home directory for a client under test and returns its
// path, to give as remote.Options.HomeDir or, to the deploy CLI, as
// DEPLOY_SSH_HOME (the CLI reads the passwd entry's home otherwise, as ssh
// does, whatever HOME says). It holds .ssh/config with sshConfig (omitted
// when empty), .ssh/known_hosts trusting the host key of every server
// given, and .ssh/id_ed25519 (with .pub) being the first server's client
// key, so default identity discovery finds it. Servers after the first
// must authorize that key themselves (AuthorizeKey) if the client is to
// log in there too.
func FakeHome(t testing.TB, sshConfig string, servers ...*Server) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".ssh")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if sshConfig != "" {
		writeFile(t, filepath.Join(dir, "config"), []byte(sshConfig), 0o600)
	}
	var lines []string
	for _, s := range servers {
		lines = append(lines, s.KnownHostsLine())
	}
	if len(lines) > 0 {
		writeFile(t, filepath.Join(dir, "known_hosts"), []byte(strings.Join(lines, "\n")+"\n"), 0o600)
		servers[0].ClientKey().CopyTo(t, filepath.Join(dir, "id_ed25519"))
	}
	return home
}
