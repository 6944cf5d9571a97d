package sdnotify

import (
	"strings"
	"testing"
)

// FuzzParseMessage checks that any datagram parses without panicking and
// that every parsed key came from a KEY=VALUE line of the input.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{"READY=1", "RELOADING=1\nMONOTONIC_USEC=123", "STATUS=a=b\n\n=x\nnoequals", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := ParseMessage(data)
		if len(m.Keys) != len(m.Fields) {
			t.Fatalf("keys %q vs fields %v", m.Keys, m.Fields)
		}
		for _, k := range m.Keys {
			if k == "" || strings.Contains(k, "\n") || !strings.Contains(string(data), k+"=") {
				t.Fatalf("key %q not from the input", k)
			}
		}
	})
}
