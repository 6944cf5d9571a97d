package gitsource

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Mismatch says that the commit a ref deploys is not the tip of the local
// branch of the same name: the laptop has commits the deploy will not ship
// (Ahead), or lacks commits it will (Behind, a `git pull` is due).
type Mismatch struct {
	// Branch is the local branch, e.g. "master".
	Branch string
	// Local is the local branch's tip.
	Local string
	// Deploy is the commit the ref resolves to (see Repo.Resolve).
	Deploy string
	// Ahead counts the commits on Local that are not in Deploy.
	Ahead int
	// Behind counts the commits in Deploy that are not on Local.
	Behind int
}

// String describes the mismatch for a warning.
func (m *Mismatch) String() string {
	return fmt.Sprintf("local branch %s is at %s but the deploy ships %s (local is %d ahead, %d behind)",
		m.Branch, short(m.Local), short(m.Deploy), m.Ahead, m.Behind)
}

// HeadMismatch compares the commit ref deploys with the tip of the local
// branch ref names (master for master, origin/master and ""), whatever
// branch is checked out. It returns nil when they are the same commit, or
// when ref names no local branch (a tag, a sha, a branch never checked out).
func (r *Repo) HeadMismatch(ref string) (*Mismatch, error) {
	deploy, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	local, ok := r.localBranch(ref)
	if !ok {
		return nil, nil
	}
	tip, err := r.git.Reference(plumbing.NewBranchReferenceName(local), true)
	if err != nil {
		return nil, nil
	}
	if tip.Hash() == deploy {
		return nil, nil
	}
	ahead, err := r.between([]plumbing.Hash{deploy}, tip.Hash(), 0)
	if err != nil {
		return nil, err
	}
	behind, err := r.between([]plumbing.Hash{tip.Hash()}, deploy, 0)
	if err != nil {
		return nil, err
	}
	return &Mismatch{Branch: local, Local: tip.Hash().String(), Deploy: deploy.String(),
		Ahead: len(ahead), Behind: len(behind)}, nil
}

// Unpushed returns the commits of the local branch ref names that are not
// on its upstream (the tracked remote branch, else <origin>/<branch>),
// newest first. A local branch with no remote branch at all gives its
// commits that no remote-tracking branch has. A tag or sha gives the
// commits reachable from it that no remote-tracking branch has. None is
// nil, nil.
func (r *Repo) Unpushed(ref string) ([]Commit, error) {
	h, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	branch, ok := r.localBranch(ref)
	if !ok {
		return r.notOnRemotes(h)
	}
	tip, err := r.git.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return nil, nil
	}
	up, err := r.git.Reference(r.upstreamOf(branch), true)
	if err != nil {
		return r.notOnRemotes(tip.Hash())
	}
	return r.between([]plumbing.Hash{up.Hash()}, tip.Hash(), 0)
}

// notOnRemotes returns the commits reachable from h that no
// remote-tracking branch has.
func (r *Repo) notOnRemotes(h plumbing.Hash) ([]Commit, error) {
	refs, err := r.git.References()
	if err != nil {
		return nil, fmt.Errorf("list references: %w", err)
	}
	defer refs.Close()
	var remotes []plumbing.Hash
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Name().IsRemote() && ref.Type() == plumbing.HashReference {
			remotes = append(remotes, ref.Hash())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list references: %w", err)
	}
	return r.between(remotes, h, 0)
}

// localBranch returns the name of the local branch ref is about, if there
// is such a branch: master for master, origin/master, refs/heads/master,
// refs/remotes/origin/master, and "" when origin/HEAD points at master.
func (r *Repo) localBranch(ref string) (string, bool) {
	name := ref
	switch {
	case ref == "":
		head, err := r.git.Reference("refs/remotes/origin/HEAD", false)
		if err != nil || head.Type() != plumbing.SymbolicReference {
			return "", false
		}
		name = strings.TrimPrefix(head.Target().String(), "refs/remotes/origin/")
	case strings.HasPrefix(ref, "refs/heads/"):
		name = strings.TrimPrefix(ref, "refs/heads/")
	case strings.HasPrefix(ref, "refs/remotes/"):
		_, b, ok := r.splitRemote(strings.TrimPrefix(ref, "refs/remotes/"))
		if !ok {
			return "", false
		}
		name = b
	case strings.HasPrefix(ref, "refs/"):
		return "", false
	default:
		if _, err := r.git.Reference(plumbing.NewTagReferenceName(ref), false); err == nil {
			return "", false
		}
		if _, b, ok := r.splitRemote(ref); ok {
			name = b
		}
	}
	if _, err := r.git.Reference(plumbing.NewBranchReferenceName(name), false); err != nil {
		return "", false
	}
	return name, true
}

// upstreamOf returns the remote-tracking reference branch is compared with:
// its configured upstream, else <remote>/<branch> for its remote or origin.
func (r *Repo) upstreamOf(branch string) plumbing.ReferenceName {
	if b, err := r.git.Branch(branch); err == nil && b.Remote != "" && b.Remote != "." && b.Merge.IsBranch() {
		return plumbing.NewRemoteReferenceName(b.Remote, b.Merge.Short())
	}
	return plumbing.NewRemoteReferenceName(r.upstreamRemote(branch), branch)
}
