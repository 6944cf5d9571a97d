package gitsource

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/revlist"
)

// Pushed is what `source push` ships: the local commit, the ref name the
// server records it under, and the name the deploy logs.
type Pushed struct {
	// SHA is the commit deployed.
	SHA string
	// Ref is the ref as the user named it ("" named nothing: the checked
	// out branch, Branch, was taken).
	Ref string
	// Branch is the local branch deployed, "" when Ref is a tag or a sha.
	Branch string
	// ServerRef is the full ref the server's mirror keeps the commit under
	// (refs/heads/<branch>, refs/tags/<tag>, or refs/deploy/pushed for a
	// bare sha), so that it stays reachable and counts as a have next time.
	ServerRef string
}

// ResolvePush resolves ref the way `source push` reads it: the laptop's
// own branches and tags first (what is pushed is what the laptop has,
// not the origin's copy), then what Resolve accepts. "" is the branch
// checked out (HEAD); a detached HEAD must be named.
func (r *Repo) ResolvePush(ref string) (Pushed, error) {
	if ref == "" {
		head, err := r.git.Reference(plumbing.HEAD, false)
		if err != nil {
			return Pushed{}, fmt.Errorf("read HEAD: %w", err)
		}
		if head.Type() != plumbing.SymbolicReference {
			return Pushed{}, errors.New("HEAD is detached and no ref is set: name what to push with --ref (a branch, tag or sha) or set ref")
		}
		ref = head.Target().Short()
		p, err := r.ResolvePush(ref)
		p.Ref = ""
		return p, err
	}
	for _, name := range []string{"refs/heads/" + ref, "refs/tags/" + ref} {
		got, err := r.git.Reference(plumbing.ReferenceName(name), true)
		if err != nil {
			continue
		}
		h, err := r.peel(got.Hash())
		if err != nil {
			return Pushed{}, fmt.Errorf("ref %s: %w", ref, err)
		}
		p := Pushed{SHA: h.String(), Ref: ref, ServerRef: name}
		if strings.HasPrefix(name, "refs/heads/") {
			p.Branch = ref
		}
		return p, nil
	}
	h, err := r.resolve(ref)
	if err != nil {
		return Pushed{}, err
	}
	return Pushed{SHA: h.String(), Ref: ref, ServerRef: "refs/deploy/pushed"}, nil
}

// Pack is the set of objects a push sends: what is reachable from the
// commit deployed and not from any of the server's ref tips.
type Pack struct {
	r      *Repo
	hashes []plumbing.Hash
}

// PackFor lists the objects reachable from want that are not reachable
// from any of haves: exactly what the server's mirror lacks. Haves the
// local clone does not know are ignored (the server has commits the
// laptop never fetched). A shallow clone cannot pack history it does not
// have: the error says to unshallow it.
func (r *Repo) PackFor(want string, haves []string) (*Pack, error) {
	wantHash := plumbing.NewHash(want)
	if _, err := r.git.CommitObject(wantHash); err != nil {
		return nil, fmt.Errorf("commit %s is not in the local clone: %w", short(want), err)
	}
	ignore := make([]plumbing.Hash, 0, len(haves))
	for _, h := range haves {
		ignore = append(ignore, plumbing.NewHash(h))
	}
	st := r.git.Storer
	hashes, err := revlist.ObjectsWithStorageForIgnores(st, st, []plumbing.Hash{wantHash}, ignore)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("the local clone lacks objects of %s's history (a shallow clone?): run git fetch --unshallow, then deploy again", short(want))
	}
	if err != nil {
		return nil, fmt.Errorf("list the objects to push: %w", err)
	}
	return &Pack{r: r, hashes: hashes}, nil
}

// Objects is the number of objects in the pack.
func (p *Pack) Objects() int { return len(p.hashes) }

// WriteTo writes the pack (git pack version 2, deltas within the pack,
// never against objects outside it) to w and returns its size.
func (p *Pack) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	if _, err := packfile.NewEncoder(cw, p.r.git.Storer, false).Encode(p.hashes, 10); err != nil {
		return cw.n, fmt.Errorf("write the pack: %w", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
