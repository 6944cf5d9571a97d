package gitsource

import (
	"fmt"
	"path/filepath"
	"strings"
)

// RemoteURLs returns the URLs of the repository's remotes (fetch URLs, in
// no particular order), so a caller can tell whether this clone is a
// clone of a given repo.
func (r *Repo) RemoteURLs() ([]string, error) {
	remotes, err := r.git.Remotes()
	if err != nil {
		return nil, fmt.Errorf("list remotes of %s: %w", r.dir, err)
	}
	var urls []string
	for _, rem := range remotes {
		urls = append(urls, rem.Config().URLs...)
	}
	return urls, nil
}

// DefaultRemoteURL is the URL deploy init offers as repo: origin's (the
// remote git clone names), else the only remote's; "" when there is none,
// or several and none is origin (git's remote list has no order to pick
// by).
func (r *Repo) DefaultRemoteURL() (string, error) {
	remotes, err := r.git.Remotes()
	if err != nil {
		return "", fmt.Errorf("list remotes of %s: %w", r.dir, err)
	}
	for _, rem := range remotes {
		if c := rem.Config(); c.Name == "origin" && len(c.URLs) > 0 {
			return c.URLs[0], nil
		}
	}
	if len(remotes) == 1 && len(remotes[0].Config().URLs) > 0 {
		return remotes[0].Config().URLs[0], nil
	}
	return "", nil
}

// SameRepo reports whether two git URLs name the same repository, across
// the usual spellings: git@host:owner/name.git, ssh://git@host/owner/name,
// https://host/owner/name(.git)(/), and local paths (compared cleaned).
func SameRepo(a, b string) bool {
	na, nb := normalizeURL(a), normalizeURL(b)
	return na != "" && na == nb
}

// normalizeURL reduces a git URL to host/path without scheme, user,
// trailing slash or .git suffix.
func normalizeURL(u string) string {
	u = strings.TrimSpace(u)
	if u == "" {
		return ""
	}
	if strings.HasPrefix(u, "/") || strings.HasPrefix(u, "file://") {
		return filepath.Clean(strings.TrimSuffix(strings.TrimPrefix(u, "file://"), ".git"))
	}
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	} else if i := strings.Index(u, ":"); i >= 0 { // scp-like: [user@]host:path
		u = u[:i] + "/" + u[i+1:]
	}
	if i := strings.Index(u, "@"); i >= 0 && i < strings.Index(u+"/", "/") {
		u = u[i+1:]
	}
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	return strings.ToLower(u)
}
