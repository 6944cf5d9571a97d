package metrics

import "testing"

// FuzzParseProcStat feeds arbitrary /proc/<pid>/stat contents: a parse
// either fails cleanly or returns a value.
func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (node) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 0 0"))
	f.Add([]byte("42 (a ) b) R 1 42 42 0 -1 0 0 0 0 0 7 3"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseProcStat(data)
	})
}
