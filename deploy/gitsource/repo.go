package gitsource

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a local git repository opened read-only.
type Repo struct {
	git *git.Repository
	dir string
}

// Open opens the repository that contains dir (dir itself or a parent).
func Open(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open git repository: %w", err)
	}
	r, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s is not inside a git repository; run from the app's clone (or -C DIR)", abs)
	}
	if err != nil {
		return nil, fmt.Errorf("open git repository at %s: %w", abs, err)
	}
	return &Repo{git: r, dir: abs}, nil
}

// WorkTree returns the root of the clone's working tree.
func (r *Repo) WorkTree() (string, error) {
	wt, err := r.git.Worktree()
	if err != nil {
		return "", fmt.Errorf("the clone at %s has no working tree: %w", r.dir, err)
	}
	return wt.Filesystem.Root(), nil
}

// Resolve returns the full sha of the commit ref names, read as the server
// will read it (see the package doc): "" is the origin's default branch
// (origin/HEAD); otherwise a tag, then the remote-tracking branch (master
// and origin/master alike), then the local branch (one never pushed), then
// a sha or sha prefix of at least 4 hex digits. "refs/…" names are exact.
// An annotated tag gives the commit it tags.
func (r *Repo) Resolve(ref string) (string, error) {
	h, err := r.resolve(ref)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// resolve returns the commit ref names.
func (r *Repo) resolve(ref string) (plumbing.Hash, error) {
	for _, name := range r.candidates(ref) {
		got, err := r.git.Reference(name, true)
		if err != nil {
			continue
		}
		c, err := r.peel(got.Hash())
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("ref %s: %w", ref, err)
		}
		return c, nil
	}
	if isHexPrefix(ref) {
		h, err := r.git.ResolveRevision(plumbing.Revision(ref))
		if err == nil {
			c, err := r.peel(*h)
			return c, err
		}
	}
	if ref == "" {
		return plumbing.ZeroHash, fmt.Errorf("no ref given and origin/HEAD is not set in %s; run 'git remote set-head origin --auto' or set ref", r.dir)
	}
	return plumbing.ZeroHash, fmt.Errorf("ref %q is not a branch, tag or commit of %s; check the name or run 'git fetch'", ref, r.dir)
}

// candidates lists the reference names ref may mean, in order.
func (r *Repo) candidates(ref string) []plumbing.ReferenceName {
	if ref == "" {
		return []plumbing.ReferenceName{"refs/remotes/origin/HEAD"}
	}
	if strings.HasPrefix(ref, "refs/") {
		return []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	}
	names := []plumbing.ReferenceName{
		plumbing.NewTagReferenceName(ref),
		plumbing.NewRemoteReferenceName(r.upstreamRemote(ref), ref),
	}
	if r.isRemotePrefixed(ref) {
		names = append(names, plumbing.ReferenceName("refs/remotes/"+ref))
	}
	return append(names, plumbing.NewBranchReferenceName(ref))
}

// peel follows annotated tags down to a commit.
func (r *Repo) peel(h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		obj, err := r.git.Object(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o.Hash, nil
		case *object.Tag:
			h = o.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is a %s, not a commit", h, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: too many nested tags", h)
}

// isRemotePrefixed reports whether ref starts with a configured remote's
// name followed by '/', as origin/master does.
func (r *Repo) isRemotePrefixed(ref string) bool {
	_, _, ok := r.splitRemote(ref)
	return ok
}

// splitRemote splits remote/branch for a configured remote.
func (r *Repo) splitRemote(ref string) (remote, branch string, ok bool) {
	remotes, err := r.git.Remotes()
	if err != nil {
		return "", "", false
	}
	for _, rem := range remotes {
		name := rem.Config().Name
		if rest, found := strings.CutPrefix(ref, name+"/"); found && rest != "" {
			return name, rest, true
		}
	}
	return "", "", false
}

// upstreamRemote returns the remote the local branch tracks, else origin.
func (r *Repo) upstreamRemote(branch string) string {
	if b, err := r.git.Branch(branch); err == nil && b.Remote != "" && b.Remote != "." {
		return b.Remote
	}
	return "origin"
}

func isHexPrefix(s string) bool {
	if len(s) < 4 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
