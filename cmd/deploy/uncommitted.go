package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// for it as here. One file differs from the classic check: the config
// file deploy reads (cfgFile), whose edits take effect from the disk,
// committed or not, so they are not refused. "" when there is nothing
// else, or when the clone has no working tree; err when git cannot tell.
func uncommittedProblem(ctx context.Context, repo *gitsource.Repo, cfgFile string) (string, error) {
	wt, err := repo.WorkTree()
	if err != nil {
		return "", nil // a bare clone: nothing uncommitted
	}
	changed, err := uncommitted(ctx, wt)
	if err != nil {
		return "", err
	}
	if rel, ok := inTree(wt, cfgFile); ok {
		changed = slices.DeleteFunc(changed, func(n string) bool { return n == rel })
	}
	if len(changed) == 0 {
		return "", nil
	}
	shown := changed[:min(len(changed), uncommittedShown)]
	more := ""
	if len(changed) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(changed)-len(shown))
	}
	return fmt.Sprintf("uncommitted changes to %d tracked file(s) in %s, which the deploy would not ship: %s%s",
		len(changed), wt, strings.Join(shown, ", "), more), nil
}

// inTree is file's path relative to the working tree wt, as git names it
// (slashes), when file is inside it.
func inTree(wt, file string) (string, bool) {
	if file == "" {
		return "", false
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", false
	}
	if d, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(d, filepath.Base(abs))
	}
	if w, err := filepath.EvalSymlinks(wt); err == nil {
		wt = w
	}
	rel, err := filepath.Rel(wt, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
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
