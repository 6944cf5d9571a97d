package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/deploytool/deploy/deploy/gitsource"
	"github.com/deploytool/deploy/internal/hint"
)

// localRepo opens the laptop's clone of the app: the git repository that
// holds the config file, when one of its remotes is the env's repo. ok is
// false otherwise (the config lives outside any clone, or in a clone of
// another repo); then local checks and the changelog are skipped and why
// says so.
func (c *command) localRepo() (repo *gitsource.Repo, why string, ok bool) {
	dir := filepath.Dir(c.cfgFile)
	r, err := gitsource.Open(dir)
	if err != nil {
		return nil, "no local clone at " + dir + " (run from the app's clone to see the commits)", false
	}
	urls, err := r.RemoteURLs()
	if err != nil {
		return nil, err.Error(), false
	}
	for _, u := range urls {
		if gitsource.SameRepo(u, c.env.Repo) {
			return r, "", true
		}
	}
	return nil, fmt.Sprintf("the git repository at %s is not a clone of %s (its remotes: %s)",
		dir, c.env.Repo, strings.Join(urls, ", ")), false
}

// deployRef is the ref the deploy ships: the one given, else the env's.
func (c *command) deployRef() string {
	if c.g.Ref != "" {
		return c.g.Ref
	}
	return c.env.Ref
}

// localSafety refuses to deploy a ref that is not the local branch's HEAD
// or that has unpushed local commits: what would ship is not what the
// laptop has (the classic tool's "push your changes before deploying").
// --force deploys anyway, printing the warning. Without a local clone, or
// when the clone does not know the ref, it only notes that it could not
// look.
func (c *command) localSafety() error {
	repo, why, ok := c.localRepo()
	if !ok {
		if !strings.HasPrefix(why, "no local clone") {
			fmt.Fprintf(c.stderr, "note: local checks skipped: %s\n", why)
		}
		return nil
	}
	ref := c.deployRef()
	problems, err := localProblems(repo, ref)
	if err != nil {
		fmt.Fprintf(c.stderr, "note: local checks skipped: %v\n", err)
		return nil
	}
	if len(problems) == 0 {
		return nil
	}
	if c.g.Force {
		for _, p := range problems {
			fmt.Fprintf(c.stderr, "warning: %s (--force: deploying anyway)\n", p)
		}
		return nil
	}
	return hint.Wrap(errors.New("refusing to deploy: "+strings.Join(problems, "; ")),
		"push your changes (git push) and fetch before deploying, or deploy anyway with --force")
}

// localProblems compares what the deploy ships with the local branch.
func localProblems(repo *gitsource.Repo, ref string) ([]string, error) {
	var problems []string
	m, err := repo.HeadMismatch(ref)
	if err != nil {
		return nil, err
	}
	if m != nil {
		problems = append(problems, m.String())
	}
	unpushed, err := repo.Unpushed(ref)
	if err != nil {
		return nil, err
	}
	if len(unpushed) > 0 {
		var shas []string
		for _, cm := range unpushed {
			shas = append(shas, cm.Short)
		}
		problems = append(problems, fmt.Sprintf("%d local commit(s) not pushed: %s", len(unpushed), strings.Join(shas, " ")))
	}
	return problems, nil
}
