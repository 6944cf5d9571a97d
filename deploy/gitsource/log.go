package gitsource

import (
	"errors"
	"fmt"
	"io"
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
	it := object.NewCommitIterCTime(start, seen, nil)
	defer it.Close()
	var out []Commit
	for max <= 0 || len(out) < max {
		c, err := it.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, plumbing.ErrObjectNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("walk history from %s: %w", short(to.String()), err)
		}
		out = append(out, toCommit(c))
	}
	return out, nil
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
