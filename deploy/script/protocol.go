package script

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
)

// Marker starts every protocol line of a script run without a mark (the
// client and the git push hook always give one: a run by hand, or a
// test's); the other lines of its output are git's and the hooks' own.
const Marker = "@@deploy "

// NewMark returns a mark for one run of the script: 16 random hex
// digits. Command passes it as the script's first argument (mark=), and
// the script starts each protocol line with MarkerOf(mark) instead of
// Marker. A hook's output is the user's: it can hold "@@deploy fail …"
// or "@@deploy prepared …" (a post-deploy hook printing an earlier
// deploy's log, a nested deploy, a test of this tool), and the client
// read such a line as the script's own: a fake `exit` closed the control
// channel (the script took it for Ctrl-C and aborted the deploy), a
// fake `fail` failed a deploy that succeeded, a fake `prepared` let a
// fleet switch before this host was built. The hooks never get the mark
// (the script keeps it in a shell variable it does not export), so no
// output of theirs carries it but by reading the script's argv.
func NewMark() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}

// MarkerOf returns what starts the protocol lines of a run with mark:
// "@@deploy:<mark> ", or Marker when mark is "".
func MarkerOf(mark string) string {
	if mark == "" {
		return Marker
	}
	return "@@deploy:" + mark + " "
}

// Kind is a protocol line's first word: what the line reports. The script
// writes them with `mark "<kind> …"`; TestEveryMarkIsDeclared keeps the
// two lists equal.
type Kind string

// The kinds, with the fields that follow them.
const (
	// KindStep: `step <name>`: a step starts; the output until the next
	// step is its.
	KindStep Kind = "step"
	// KindFail: `fail <step> <message>`: the step failed, and why. The
	// first fail of a command is its cause.
	KindFail Kind = "fail"
	// KindExit: `exit <status>`: the script ends now.
	KindExit Kind = "exit"
	// KindDone: `done`: the command finished what it was asked.
	KindDone Kind = "done"
	// KindInfo: `info <topic> …`: a fact for the client (see the Info*
	// topics).
	KindInfo Kind = "info"
	// KindWaiting: `waiting lock held by <holder>`: another deploy holds
	// the lock; the script waits (--wait).
	KindWaiting Kind = "waiting"
	// KindPrepared: `prepared <release> <sha>`: a held deploy's release
	// is ready to switch.
	KindPrepared Kind = "prepared"
	// KindReleased: `released <release> <sha>`: a held deploy ran its
	// release-command (the client said `release`) and waits for the
	// switch.
	KindReleased Kind = "released"
	// KindSwitched: `switched <release> <sha>`: current points at it.
	KindSwitched Kind = "switched"
	// KindGate: `gate <release> <sha> ok|fail [<reason>]`: the health
	// gate's verdict on a held deploy.
	KindGate Kind = "gate"
	// KindReverted: `reverted <release> <sha>`: current points back at it.
	KindReverted Kind = "reverted"
	// KindDiscarded: `discarded <release>|-`: a release that never
	// switched was removed.
	KindDiscarded Kind = "discarded"
	// KindCurrent: `current <id>|-` (list).
	KindCurrent Kind = "current"
	// KindRelease: `release <id> <sha> present|pruned` (current, previous).
	KindRelease Kind = "release"
	// KindUnlock: `unlock never|free|broken [<holder>]`.
	KindUnlock Kind = "unlock"
	// KindStatus: `status <key> <value…>`: current, behind, layout, lock,
	// disk-free-kb.
	KindStatus Kind = "status"
	// KindCheck: `check <item> ok|fail <detail>`.
	KindCheck Kind = "check"
	// KindHave: `have <sha>`: a ref tip of the server's mirror (source
	// push: the laptop sends only what lies beyond them).
	KindHave Kind = "have"
	// KindNeed: `need <n>`: the artifact manifest's line n is not in the
	// current release: send it (build local).
	KindNeed Kind = "need"
)

// Info topics: the word after `info`.
const (
	// InfoOld: `info old <release>|- <sha>|-`: what current was.
	InfoOld = "old"
	// InfoNew: `info new <release> <sha>`: the release being made.
	InfoNew = "new"
	// InfoUnchecked: `info unchecked <reason>`: nothing can show that the
	// release serves (no procmon running, no healthcheck).
	InfoUnchecked = "unchecked"
	// InfoHealth: `info health <url> <code>`: the healthcheck answered.
	InfoHealth = "health"
	// InfoPruned: `info pruned <release>`: an old release was removed.
	InfoPruned = "pruned"
	// InfoRepoChanged: `info repo-changed`: the mirror's origin was
	// re-pointed at the config's repo.
	InfoRepoChanged = "repo-changed"
	// InfoDefaultRef: `info default-ref <branch>`: ref is unset, and the
	// deploy ships the origin's default branch, <branch>.
	InfoDefaultRef = "default-ref"
	// InfoSubmodules: `info submodules`: the release has a .gitmodules,
	// and its submodules were not checked out (their directories are
	// empty).
	InfoSubmodules = "submodules"
	// InfoLFS: `info lfs` or `info lfs pointers`: the release's
	// .gitattributes sends files through Git LFS, and the checkout
	// fetched their content (git-lfs set up), or left pointer files.
	InfoLFS = "lfs"
	// InfoBuild: `info build <stack>|none <why…>`: build=auto detected a
	// stack (node, python, ruby, elixir, go) from the files named in why,
	// or none.
	InfoBuild = "build"
	// InfoDeps: `info deps <stack> reused|installed <method> <key>`: a
	// dependency install came from the cache (or was made and cached) by
	// reflink, hardlink or copy; `info deps <stack> uncached|pip-cache|
	// go-cache …` for one that is not cached per lockfile.
	InfoDeps = "deps"
	// InfoPrunedCache: `info pruned-cache <key>`: a dependency cache entry
	// no kept release uses was removed.
	InfoPrunedCache = "pruned-cache"
	// InfoMirror: `info mirror exists` (setup).
	InfoMirror = "mirror"
	// InfoHaves: `info haves <n>`: the n `have` lines are all; the script
	// now reads the pack (source push).
	InfoHaves = "haves"
	// InfoReused: `info reused <n>`: files of an artifact copied from the
	// current release instead of sent, after the `need` lines; the script
	// now reads the tar (build local).
	InfoReused = "reused"
	// InfoRevertGate: `info revert-gate fail <reason>`: the release a
	// revert went back to did not pass its gate either.
	InfoRevertGate = "revert-gate"
	// InfoPruneFailed: `info prune-failed <release>`: an old release could
	// not be removed (the script says why and what to do); the deploy
	// is not failed for it.
	InfoPruneFailed = "prune-failed"
)

// kinds and infoTopics list what is declared, for the test that compares
// them with the script.
var (
	kinds = []Kind{KindStep, KindFail, KindExit, KindDone, KindInfo, KindWaiting, KindPrepared, KindReleased,
		KindSwitched, KindGate, KindReverted, KindDiscarded, KindCurrent, KindRelease, KindUnlock,
		KindStatus, KindCheck, KindHave, KindNeed}
	infoTopics = []string{InfoOld, InfoNew, InfoUnchecked, InfoHealth, InfoPruned, InfoRepoChanged,
		InfoMirror, InfoRevertGate, InfoDefaultRef, InfoSubmodules, InfoLFS, InfoBuild, InfoDeps, InfoPrunedCache, InfoReused, InfoHaves, InfoPruneFailed}
)

// Known says whether k is a kind the script writes.
func (k Kind) Known() bool { return slices.Contains(kinds, k) }

// Message is one protocol line, parsed.
type Message struct {
	// Kind is the line's first word.
	Kind Kind
	// Fields are the words after it.
	Fields []string
	// Rest is the text after the kind, as written.
	Rest string
}

// ParseLine reads one line of the output of a script run without a mark;
// ok is false when it is not a protocol line (then it is git's or a
// hook's output).
func ParseLine(line string) (m Message, ok bool) { return ParseMarked(line, Marker) }

// ParseMarked reads one line of the output of a run whose protocol lines
// start with marker (MarkerOf).
func ParseMarked(line, marker string) (m Message, ok bool) {
	rest, ok := strings.CutPrefix(line, marker)
	if !ok {
		return Message{}, false
	}
	kind, after, _ := strings.Cut(rest, " ")
	return Message{Kind: Kind(kind), Fields: strings.Fields(after), Rest: after}, true
}

// Field returns the i-th field; "" when there is none or it is "-" (the
// script's word for nothing).
func (m Message) Field(i int) string {
	if i < len(m.Fields) && m.Fields[i] != "-" {
		return m.Fields[i]
	}
	return ""
}

// After returns the text after the first n fields, as written but
// trimmed: the free text that ends a line (a reason, a holder, a detail).
func (m Message) After(n int) string {
	rest := strings.TrimSpace(m.Rest)
	for ; n > 0 && rest != ""; n-- {
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			return ""
		}
		rest = strings.TrimSpace(rest[i:])
	}
	return rest
}

// Is reports whether m is an `info <topic>` line.
func (m Message) Is(topic string) bool { return m.Kind == KindInfo && m.Field(0) == topic }
