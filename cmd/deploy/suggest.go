package main

import (
	"strings"
)

// editDistance is the optimal string alignment distance between a and b:
// the insertions, deletions, substitutions and swaps of two neighbouring
// letters that turn one into the other ("stauts" is one swap from
// "status"). It compares bytes, case-insensitively.
func editDistance(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// mistypedCommand reports whether word is one typo away from the command
// word cmd: case aside, one letter inserted, dropped, replaced or swapped
// with its neighbour ("rollbak", "stauts", "lsit", "Status"). Words of
// three letters or fewer ("run") must match exactly: one typo away from
// them are too many real branch names. The bound is deliberately tight
// because a word after the env that is not a command is a ref: "dev" or
// "test" must stay branches, not be taken for "prev" or "list".
func mistypedCommand(word, cmd string) bool {
	if word == cmd || len(cmd) <= 3 {
		return false
	}
	return editDistance(word, cmd) <= 1
}

// closeEnv reports whether word may be a mistyped or shortened env name:
// up to two typos (one for names of four letters or fewer), or a prefix
// ("prod" for "production"). It only picks suggestions for an error, so it
// is generous.
func closeEnv(word, env string) bool {
	limit := 2
	if len(env) <= 4 {
		limit = 1
	}
	lw, le := strings.ToLower(word), strings.ToLower(env)
	return editDistance(lw, le) <= limit || (len(lw) >= 2 && strings.HasPrefix(le, lw))
}

// commandSuggestions lists the commands word may be a typo of, each as
// "canonical" or "canonical/alias" when the close word is an alias
// ("revert/rollback"), in the order of commands.
func commandSuggestions(word string) []string {
	var out []string
	for _, names := range commands() {
		for _, name := range names {
			if mistypedCommand(word, name) || (word != name && strings.EqualFold(word, name)) {
				s := names[0]
				if name != names[0] {
					s += "/" + name
				}
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// orList joins words as "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
