// Package testusers gives tests the system users, groups and directories
// it takes to check who may do what: a worker that must not run as root,
// a deploy user that may (or may not) use procmon's socket.
//
// Creating users needs root (CI runs as root): without it the helpers skip
// the test, saying so. Every user and group a test creates is deleted in
// t.Cleanup, its home included. Names start with "dt" and a random
// suffix, so parallel tests and stale leftovers never collide.
package testusers

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/testfs"
)

// RequireRoot skips the test unless it runs as root; why says what the
// test needs root for.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipped: needs root to %s (CI runs as root); run 'sudo go test' to include it", why)
	}
}

// Account is a user or group a test created or looked up.
type Account struct {
	// Name is the user or group name.
	Name string
	// UID is the user's id (0 for a group); GID is the user's primary
	// group, or the group's id.
	UID, GID int
	// Home is the user's home directory ("" for a group).
	Home string
}

// Lookup returns the existing user name, skipping the test when this
// host has none.
func Lookup(t testing.TB, name string) Account {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("skipped: no user %s on this host: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return Account{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}
}

// AddGroup creates a system group (root only, else the test is skipped)
// and deletes it in t.Cleanup.
func AddGroup(t testing.TB) Account {
	t.Helper()
	RequireRoot(t, "create a system group (groupadd)")
	name := newName(t)
	run(t, "groupadd", "--system", name)
	t.Cleanup(func() { runQuiet("groupdel", name) })
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatalf("testusers: group %s after groupadd: %v", name, err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return Account{Name: name, GID: gid}
}

// AddUser creates a user with a home directory, bash as its shell and its
// own primary group, member of the groups given (root only, else the test
// is skipped), and deletes it with its home in t.Cleanup. Its password is
// "*": no password login, yet not "locked", so sshd lets it in with a key.
func AddUser(t testing.TB, groups ...string) Account {
	t.Helper()
	RequireRoot(t, "create a system user (useradd)")
	name := newName(t)
	args := []string{"--create-home", "--user-group", "--shell", "/bin/bash", "--password", "*"}
	if len(groups) > 0 {
		args = append(args, "--groups", strings.Join(groups, ","))
	}
	run(t, "useradd", append(args, name)...)
	t.Cleanup(func() { runQuiet("userdel", "--remove", name) })
	return Lookup(t, name)
}

// newName is a fresh account name: "dt" and 8 hex digits.
func newName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "dt" + hex.EncodeToString(b)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("testusers: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func runQuiet(name string, args ...string) {
	_ = exec.Command(name, args...).Run()
}

// SharedDir is a fresh directory that every user may enter and read
// (mode 0755, in /tmp; t.TempDir()s sit under a 0700 parent), removed in
// t.Cleanup.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "testusers-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	testfs.Thaw(t, dir) // a root deploy's cache entries are immutable
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CopyExecutable copies the running test binary into dir (a SharedDir)
// as name, mode 0755, so that a process of another user can run it: the
// go tool builds it under a directory private to the user running go test.
func CopyExecutable(t testing.TB, dir, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	exe := filepath.Join(dir, name)
	out, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return exe
}
