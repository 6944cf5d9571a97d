package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/gitsource"
	"github.com/deploytool/deploy/deploy/script"
	"github.com/deploytool/deploy/internal/hint"
)

// changelogMax caps the commits a dry run lists per host.
const changelogMax = 50

// dryRunHost is what a dry run learned about one host, read-only.
type dryRunHost struct {
	host    string
	current deploy.Release
	err     error
}

// dryRun prints what a deploy would do, per host, and the changelog
// between what each host runs and what would ship. It only reads: the
// current release with deploy.Current, the commits from the local clone.
func (c *command) dryRun(ctx context.Context) error {
	if c.env.Source == "push" || c.env.Build == "local" {
		// resolved in the local clone, as the deploy would; nothing is
		// built or sent
		p, err := c.pushSource()
		if err != nil {
			return err
		}
		if c.env.Source == "push" {
			c.push = p
		} else {
			c.artifact = &deploy.Artifact{SHA: p.Commit.SHA, Ref: cmp.Or(p.Commit.Ref, p.Commit.Branch, p.Commit.SHA)}
		}
	}
	plan, err := deploy.PlanDeploy(c.env, c.options(config.Host{}, nil))
	if err != nil {
		return err
	}
	hosts := make([]dryRunHost, len(c.env.Hosts))
	deploy.EachHost(ctx, c.env, func(ctx context.Context, i int, h config.Host) {
		hosts[i].host = h.String()
		hosts[i].err = c.withConn(ctx, h, func(conn deploy.Conn) error {
			rel, err := deploy.Current(ctx, conn, c.env, c.options(h, nil))
			if deploy.NothingDeployed(err) {
				return nil // a first deploy
			}
			hosts[i].current = rel
			return err
		})
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	w := c.stdout
	fmt.Fprintf(w, "dry run of deploy %s: nothing is changed on any host\n", c.env.Name)
	target := c.describeTarget(ctx, w, plan.Ref)
	for _, h := range hosts {
		fmt.Fprintf(w, "\nhost %s\n", h.host)
		c.writeHostChangelog(w, h, target)
	}
	writePlan(w, plan, len(hosts))
	var unreached []string
	for _, h := range hosts {
		if h.err != nil {
			unreached = append(unreached, h.host)
		}
	}
	if len(unreached) > 0 {
		return hint.Wrap(errors.New("dry run: could not read "+strings.Join(unreached, ", ")+": a deploy would fail there"),
			"see the host's line above; 'deploy "+c.env.Name+" check' runs the full preflight")
	}
	return nil
}

// shipTarget is the commit a deploy would ship, from the local clone.
type shipTarget struct {
	sha  string
	note string // why the changelog cannot be shown ("" = it can)
	log  func(from string) ([]string, error)
}

// describeTarget resolves the ref in the local clone and prints it.
func (c *command) describeTarget(ctx context.Context, w io.Writer, ref string) shipTarget {
	name := ref
	if name == "" {
		name = "the origin's default branch"
	}
	repo, why, ok := c.localRepo()
	if !ok {
		fmt.Fprintf(w, "would deploy: %s (resolved on each server at fetch time)\n", name)
		return shipTarget{note: why}
	}
	if !c.g.Dirty {
		if p, err := uncommittedProblem(ctx, repo, c.cfgFile); p != "" {
			fmt.Fprintf(w, "warning: %s: a deploy would refuse without --force\n", p)
		} else if err != nil {
			fmt.Fprintf(w, "note: uncommitted changes not looked for: %v\n", err)
		}
	}
	if local := firstShipped(c.push, c.artifact); local != "" {
		fmt.Fprintf(w, "would deploy: %s = %s (this clone's commit, shipped from here)\n", cmp.Or(ref, "the branch checked out"), deploy.ShortSHA(local))
		return shipTarget{sha: local, log: changelog(repo, local)}
	}
	sha, err := repo.Resolve(ref)
	if err != nil {
		fmt.Fprintf(w, "would deploy: %s (resolved on each server at fetch time)\n", name)
		return shipTarget{note: fmt.Sprintf("the local clone cannot resolve it: %v", err)}
	}
	fmt.Fprintf(w, "would deploy: %s = %s (as of the local clone's last fetch)\n", name, deploy.ShortSHA(sha))
	if problems, err := localProblems(repo, ref); err == nil {
		for _, p := range problems {
			fmt.Fprintf(w, "warning: %s: a deploy would refuse without --force\n", p)
		}
	}
	return shipTarget{sha: sha, log: changelog(repo, sha)}
}

// firstShipped is the commit a push or build local deploy ships ("" for
// a fetch deploy).
func firstShipped(p *deploy.Push, a *deploy.Artifact) string {
	switch {
	case p != nil:
		return p.Commit.SHA
	case a != nil:
		return a.SHA
	}
	return ""
}

// changelog lists the commits from a host's commit to sha, newest first.
func changelog(repo *gitsource.Repo, sha string) func(from string) ([]string, error) {
	return func(from string) ([]string, error) {
		commits, err := repo.Log(from, sha, changelogMax)
		if err != nil {
			return nil, err
		}
		lines := make([]string, len(commits))
		for i, cm := range commits {
			lines[i] = fmt.Sprintf("%s %s (%s)", cm.Short, cm.Subject, cm.Author)
		}
		return lines, nil
	}
}

func (c *command) writeHostChangelog(w io.Writer, h dryRunHost, t shipTarget) {
	if h.err != nil {
		fmt.Fprintf(w, "  deployed:  unknown: %s\n", firstLine(h.err.Error()))
		return
	}
	if h.current.ID == "" {
		fmt.Fprintln(w, "  deployed:  nothing yet (first deploy)")
	} else {
		fmt.Fprintf(w, "  deployed:  %s (%s)\n", h.current.ID, deploy.ShortSHA(h.current.SHA))
	}
	switch {
	case t.note != "":
		fmt.Fprintf(w, "  changelog: unavailable: %s\n", t.note)
		return
	case h.current.SHA == t.sha:
		fmt.Fprintln(w, "  changelog: none: the host already runs this commit")
		return
	}
	lines, err := t.log(h.current.SHA)
	if err != nil {
		fmt.Fprintf(w, "  changelog: unavailable: %s\n", firstLine(err.Error()))
		return
	}
	fmt.Fprintf(w, "  changelog: %d commit(s)%s\n", len(lines), capped(len(lines)))
	for _, l := range lines {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

func capped(n int) string {
	if n >= changelogMax {
		return fmt.Sprintf(" (the newest %d)", changelogMax)
	}
	return ""
}

// writePlan prints the steps and the exact remote command, which are the
// same on every host.
func writePlan(w io.Writer, p *deploy.Plan, hosts int) {
	on := "the host"
	if hosts > 1 {
		on = fmt.Sprintf("each of the %d hosts (prepare all in parallel, then switch in batches)", hosts)
	}
	fmt.Fprintf(w, "\nsteps on %s:\n", on)
	width := 0
	for _, s := range p.Steps {
		width = max(width, len(s.Name))
	}
	for i, s := range p.Steps {
		fmt.Fprintf(w, "  %2d. %-*s  %s\n", i+1, width, s.Name, s.What)
	}
	fmt.Fprintln(w, "\nscript arguments:")
	for _, a := range p.Args {
		fmt.Fprintf(w, "  %s\n", script.Quote(a))
	}
	fmt.Fprintln(w, "\nremote command (stdin: the embedded script, framed, when the server has no copy of it; then the control channel):")
	fmt.Fprintf(w, "  %s\n", strings.TrimSpace(p.Command))
	if p.CredentialsHidden {
		fmt.Fprintln(w, "\n(the user and password in URLs (repo, env values) are left out above, as git's own messages leave them out; the deploy sends them)")
	}
	if p.SecretsHidden {
		fmt.Fprintf(w, "\n(the values of env variables whose names look secret (…KEY, …TOKEN, …SECRET, …PASSWORD, …) are shown as %s above; the deploy sends them; 'deploy <env> config' prints them)\n", deploy.HiddenValue)
	}
}
