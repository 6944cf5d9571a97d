package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStaleGitLockInTheMirror: a git killed while it updates the mirror's
// refs (the OOM killer, a power cut) leaves its lock files (here a real
// one: a reference-transaction hook SIGKILLs the fetch while it holds its
// locks), and every later fetch failed on them ("Unable to create
// '…/refs/heads/main.lock': File exists") until someone removed them by
// hand. Under the deploy lock no other git runs in the mirror (its gc
// does not detach), so the next deploy removes them, says so, and fetches
// again.
func TestStaleGitLockInTheMirror(t *testing.T) {
	o, s, first := deployed(t)
	hook := filepath.Join(s.env.Path, "repo", "hooks", "reference-transaction")
	if err := os.MkdirAll(filepath.Dir(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n[ \"$1\" = prepared ] && kill -9 $PPID\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sha := o.commit(nil)
	if _, err := Deploy(ctxFor(t), s.conn, s.env, s.opts()); err == nil || !strings.Contains(err.Error(), "git fetch failed") {
		t.Fatalf("a deploy whose fetch is killed: %v", err)
	}
	locks, _ := filepath.Glob(filepath.Join(s.env.Path, "repo", "refs", "heads", "*.lock"))
	if len(locks) == 0 {
		t.Fatalf("the killed fetch left no lock in the mirror's refs/heads")
	}
	assertUntouchedVia(t, s, first)
	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	res := s.deploy()
	if res.NewSHA != sha || s.current() != res.NewRelease {
		t.Fatalf("the deploy after: %+v, current %s", res, s.current())
	}
	if want := "removed a lock file git left in the mirror: " + locks[0]; !strings.Contains(s.out.String(), want) {
		t.Errorf("the output does not say %q:\n%s", want, s.out)
	}
	if left, _ := filepath.Glob(filepath.Join(s.env.Path, "repo", "refs", "heads", "*.lock")); len(left) != 0 {
		t.Errorf("locks left: %v", left)
	}
}
