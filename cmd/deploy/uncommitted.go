package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/deploytool/deploy/deploy/gitsource"
)

// errNoGit: git is not on PATH, so the uncommitted-changes check cannot
// run (the rest of the local checks read the clone with go-git).
var errNoGit = errors.New("git is not installed on this machine, so uncommitted changes were not looked for")

// uncommittedShown is how many changed files a refusal names.
const uncommittedShown = 5

// uncommittedProblem says, as a local-check problem, that the clone's
// working tree has changes to tracked files, staged or not, which a
// deploy would not ship: the classic deploy script refuses them ("commit
// or stash your changes before deploying", from `git diff --exit-code
// --quiet` and the same with --cached); untracked files do not count,
// for it as here. "" when there are none, or when the clone has no
// working tree; err when git cannot tell.
func uncommittedProblem(ctx context.Context, repo *gitsource.Repo) (string, error) {
	wt, err := repo.WorkTree()
	if err != nil {
		return "", nil // a bare clone: nothing uncommitted
	}
	changed, err := uncommitted(ctx, wt)
	if err != nil || len(changed) == 0 {
		return "", err
	}
	shown := changed[:min(len(changed), uncommittedShown)]
	more := ""
	if len(changed) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(changed)-len(shown))
	}
	return fmt.Sprintf("uncommitted changes to %d tracked file(s) in %s, which the deploy would not ship: %s%s",
		len(changed), wt, strings.Join(shown, ", "), more), nil
}

// uncommitted lists the tracked files of the working tree wt that differ
// from the index (`git diff`) or whose staged version differs from HEAD
// (`git diff --cached`), sorted, each once. It runs git itself: only git
// applies the clone's clean filters (Git LFS), autocrlf and attributes
// the way the classic script's `git diff` does.
func uncommitted(ctx context.Context, wt string) ([]string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, errNoGit
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var names []string
	for _, args := range [][]string{{"diff"}, {"diff", "--cached"}} {
		cmd := exec.CommandContext(ctx, "git", append(append([]string{"-C", wt}, args...), "--name-only", "-z", "--no-ext-diff", "--no-renames")...)
		// no index.lock taken, as editors' git integrations run it
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("git %s in %s: %v: %s", strings.Join(args, " "), wt, err, strings.TrimSpace(stderr.String()))
		}
		for _, n := range bytes.Split(out, []byte{0}) {
			if len(n) > 0 {
				names = append(names, string(n))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
