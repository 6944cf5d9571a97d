// Package report renders what package deploy did and found, for people and
// for scripts: the live per-host output of a deploy (Output), the summary
// table and the one-line states at the end (Summary), `status` and `check`
// tables, and their --json forms. It only reads deploy's values; nothing
// here decides anything about a deploy.
package report
