package gitsource

import (
	"container/heap"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit is one commit, as a changelog line shows it.
type Commit struct {
	// SHA is the full hex sha.
	SHA string
	// Short is the first 7 hex digits.
	Short string
	// Subject is the first line of the message.
	Subject string
	// Author is the author's name.
	Author string
	// When is the author date.
	When time.Time
}

// Log returns the commits reachable from to but not from from (git log
// from..to), newest first, at most max of them (max <= 0: all). from ""
// means none is excluded, as for a first deploy. Both are resolved with
// Resolve, so they may be shas, tags or branches.
func (r *Repo) Log(from, to string, max int) ([]Commit, error) {
	toHash, err := r.resolve(to)
	if err != nil {
		return nil, err
	}
	var exclude []plumbing.Hash
	if from != "" {
		h, err := r.resolve(from)
		if err != nil {
			return nil, err
		}
		exclude = append(exclude, h)
	}
	return r.between(exclude, toHash, max)
}

// between returns the commits reachable from to and from none of exclude,
// newest (by commit time) first, at most max (max <= 0: all). Commits
// missing from a shallow clone end the walk there.
func (r *Repo) between(exclude []plumbing.Hash, to plumbing.Hash, max int) ([]Commit, error) {
	seen, err := r.ancestors(exclude)
	if err != nil {
		return nil, err
	}
	start, err := r.git.CommitObject(to)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", short(to.String()), err)
	}
	var out []Commit
	q := &byTime{start}
	for q.Len() > 0 && (max <= 0 || len(out) < max) {
		c := heap.Pop(q).(*object.Commit)
		if seen[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		out = append(out, toCommit(c))
		for _, h := range c.ParentHashes {
			if seen[h] {
				continue
			}
			p, err := r.git.CommitObject(h)
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				continue // the edge of a shallow clone
			}
			if err != nil {
				return nil, fmt.Errorf("read commit %s: %w", short(h.String()), err)
			}
			heap.Push(q, p)
		}
	}
	return out, nil
}

// byTime is a heap of commits, the newest (by committer date) on top, the
// order of `git log`.
type byTime []*object.Commit

func (b byTime) Len() int           { return len(b) }
func (b byTime) Less(i, j int) bool { return b[i].Committer.When.After(b[j].Committer.When) }
func (b byTime) Swap(i, j int)      { b[i], b[j] = b[j], b[i] }
func (b *byTime) Push(x any)        { *b = append(*b, x.(*object.Commit)) }
func (b *byTime) Pop() any {
	old := *b
	c := old[len(old)-1]
	*b = old[:len(old)-1]
	return c
}

// ancestors returns every commit reachable from the given ones, themselves
// included; commits missing from a shallow clone are skipped.
func (r *Repo) ancestors(from []plumbing.Hash) (map[plumbing.Hash]bool, error) {
	seen := map[plumbing.Hash]bool{}
	stack := append([]plumbing.Hash(nil), from...)
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] {
			continue
		}
		c, err := r.git.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read commit %s: %w", short(h.String()), err)
		}
		seen[h] = true
		stack = append(stack, c.ParentHashes...)
	}
	return seen, nil
}

func toCommit(c *object.Commit) Commit {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Commit{SHA: c.Hash.String(), Short: short(c.Hash.String()), Subject: strings.TrimSpace(subject),
		Author: c.Author.Name, When: c.Author.When}
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
