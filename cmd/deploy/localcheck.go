package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
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
	if c.env.Repo == "" {
		return r, "", true // source push / build local without repo: the clone holding the config
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
	shown := make([]string, len(urls))
	for i, u := range urls {
		shown[i] = config.AnonymizeURL(u)
	}
	return nil, fmt.Sprintf("the git repository at %s is not a clone of %s (its remotes: %s)",
		dir, config.AnonymizeURL(c.env.Repo), strings.Join(shown, ", ")), false
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
func (c *command) localSafety(ctx context.Context) error {
	repo, why, ok := c.localRepo()
	if !ok {
		if !strings.HasPrefix(why, "no local clone") {
			fmt.Fprintf(c.stderr, "note: local checks skipped: %s\n", why)
		}
		return nil
	}
	ref := c.deployRef()
	check := localProblems
	if c.env.Source == "push" || c.env.Build == "local" {
		check = pushProblems // what ships is the local commit itself
	}
	problems, err := check(repo, ref)
	if err != nil {
		fmt.Fprintf(c.stderr, "note: local checks skipped: %v\n", err)
		return nil
	}
	hintText := "push your changes (git push) and fetch before deploying, or deploy anyway with --force"
	if !c.g.Dirty { // --dirty ships them on purpose
		p, err := uncommittedProblem(ctx, repo, c.cfgFile)
		if err != nil {
			fmt.Fprintf(c.stderr, "note: uncommitted changes not looked for: %v\n", err)
		}
		if p != "" {
			problems = append(problems, p)
			hintText = "commit or stash your changes, push them (git push) and fetch before deploying, or deploy anyway with --force"
		}
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
	return hint.Wrap(errors.New("refusing to deploy: "+strings.Join(problems, "; ")), hintText)
}

// pushSource resolves what a source push deploy sends: the ref (else the
// branch checked out) in the laptop's clone, its own branches and tags
// first: what ships is what the laptop has.
func (c *command) pushSource() (*deploy.Push, error) {
	repo, why, ok := c.localRepo()
	if !ok {
		return nil, hint.Wrap(fmt.Errorf("source push and build local ship from the app's local clone, and there is none to use: %s", why),
			"run deploy from the app's clone (or -C DIR)")
	}
	ref, err := config.NormalizeRef(c.deployRef())
	if err != nil {
		return nil, err
	}
	p, err := repo.ResolvePush(ref)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("the ref to ship: %w", err), "name a branch, tag or commit of this clone with --ref, or set ref")
	}
	return &deploy.Push{Repo: repo, Commit: p}, nil
}

// buildLocal builds the artifact once for every host: build-command in a
// clean export of the ref's local commit (the branch checked out when no
// ref is set), or in the working tree with --dirty.
func (c *command) buildLocal(ctx context.Context) (*deploy.Artifact, error) {
	p, err := c.pushSource()
	if err != nil {
		return nil, err
	}
	b := deploy.LocalBuild{Repo: p.Repo, SHA: p.Commit.SHA, Ref: cmp.Or(p.Commit.Ref, p.Commit.Branch, p.Commit.SHA),
		Command: c.env.BuildCommand, Items: c.env.Artifact, Vars: c.env.Vars, Out: c.remoteOut()}
	if c.g.Dirty {
		if b.Dirty, err = p.Repo.WorkTree(); err != nil {
			return nil, err
		}
		b.Ref += "+dirty"
		fmt.Fprintf(c.stderr, "warning: --dirty: building %s with its uncommitted changes; the release is logged as %s at %s, which it may not match\n",
			b.Dirty, b.Ref, deploy.ShortSHA(b.SHA))
	}
	return deploy.BuildLocal(ctx, b)
}

// pushProblems is localProblems for source push, which ships the local
// branch itself: only commits not on any remote are a problem, and only
// when the clone has remotes at all (a clone that only ever pushes to
// the servers has nothing to push first).
func pushProblems(repo *gitsource.Repo, ref string) ([]string, error) {
	urls, err := repo.RemoteURLs()
	if err != nil || len(urls) == 0 {
		return nil, err
	}
	ref, err = config.NormalizeRef(ref)
	if err != nil {
		return nil, err
	}
	p, err := repo.ResolvePush(ref)
	if err != nil {
		return nil, err
	}
	if p.Branch != "" {
		ref = p.Branch // "" ships the branch checked out
	}
	unpushed, err := repo.Unpushed(ref)
	if err != nil || len(unpushed) == 0 {
		return nil, err
	}
	var shas []string
	for _, cm := range unpushed {
		shas = append(shas, cm.Short)
	}
	return []string{fmt.Sprintf("%d local commit(s) not pushed to the origin: %s", len(unpushed), strings.Join(shas, " "))}, nil
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
