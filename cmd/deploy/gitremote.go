package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/internal/hint"
)

var shaLike = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)

// gitRemote is setup --git-remote on the env's one host: the receive
// hooks on the server (deploy.InstallGitPush) and a git remote named after
// the env in the laptop's clone, so that `git push <env> <branch>` deploys.
// The branch is the env's ref, else the branch checked out here.
func (c *command) gitRemote(ctx context.Context, conn deploy.Conn, h config.Host, o deploy.Options, out io.Writer) error {
	repo, why, ok := c.localRepo()
	if !ok {
		return hint.Wrap(fmt.Errorf("setup --git-remote adds a git remote to the app's local clone, and there is none to use: %s", why),
			"run it from the app's clone (or -C DIR)")
	}
	branch, err := config.NormalizeRef(c.env.Ref)
	if err != nil {
		return err
	}
	if branch == "" || shaLike.MatchString(branch) {
		p, err := repo.ResolvePush("")
		if err != nil {
			return hint.Wrap(fmt.Errorf("git push deploys a branch, and ref is %q: %w", c.env.Ref, err), "set ref to the branch to deploy")
		}
		if branch != "" {
			return hint.Wrap(fmt.Errorf("git push deploys a branch, and ref %s is a commit", branch), "set ref to the branch to deploy (e.g. ref "+p.Branch+")")
		}
		branch = p.Branch
	} else if p, err := repo.ResolvePush(branch); err == nil && p.Branch == "" && strings.HasPrefix(p.ServerRef, "refs/tags/") {
		return hint.Wrap(fmt.Errorf("git push deploys a branch, and ref %s is a tag", branch), "set ref to the branch to deploy")
	}
	if err := deploy.InstallGitPush(ctx, conn, c.env, branch, o); err != nil {
		return err
	}
	wt, err := repo.WorkTree()
	if err != nil {
		return err
	}
	url := deploy.GitRemoteURL(c.env, h)
	if err := addGitRemote(wt, c.env.Name, url); err != nil {
		return err
	}
	fmt.Fprintf(out, "git push: 'git push %s %s' now deploys %s to %s (the server runs the deploy; other branches are refused)\n",
		c.env.Name, branch, branch, h)
	return nil
}

// addGitRemote adds remote name → url in the clone at dir; one that
// exists with the same URL is kept, one with another URL is an error.
func addGitRemote(dir, name, url string) error {
	got, err := exec.Command("git", "-C", dir, "remote", "get-url", "--", name).Output()
	if err == nil {
		if strings.TrimSpace(string(got)) == url {
			return nil
		}
		return hint.Wrap(fmt.Errorf("the clone at %s has a git remote %q for %s already", dir, name, strings.TrimSpace(string(got))),
			fmt.Sprintf("remove it (git remote remove %s) or point it here (git remote set-url %s %s), then run setup --git-remote again", name, name, url))
	}
	if out, err := exec.Command("git", "-C", dir, "remote", "add", "--", name, url).CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("git remote add %s %s: %s", name, url, strings.TrimSpace(string(out)))
		}
		return fmt.Errorf("git remote add: %w (is git installed?)", err)
	}
	return nil
}
