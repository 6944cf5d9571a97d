// Package gitsource reads the laptop's clone of the app with go-git, without
// running git and without touching the network: which commit a ref names,
// whether the branch being deployed has commits that are not pushed, and
// the changelog between what a server runs and what a deploy would ship.
//
// Refs are read the way the server will read them. The server fetches the
// origin into a bare mirror, where a branch name means the origin's branch;
// so here a branch name (master) and its remote-tracking name
// (origin/master) both mean the remote-tracking branch, as of the last
// `git fetch`. A branch that exists only locally resolves to the local
// branch (and Unpushed says so). Tags and sha prefixes mean what they say.
//
// go-git is used only in this package.
package gitsource
