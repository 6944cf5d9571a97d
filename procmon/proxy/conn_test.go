package proxy

import (
	"bytes"
	"fmt"
	"testing"
)

// TestAppendHeadBoundsSlack: a large request head grows its buffer in
// steps, so that it never sits in more than max_head, nor in more than a
// step (plus an eighth of it) beyond its length. append alone put a 30 KB
// head of 512-byte lines in a 40 KB buffer with a 32 KB max_head.
func TestAppendHeadBoundsSlack(t *testing.T) {
	for _, tc := range []struct {
		limit, part int
	}{
		{32 << 10, 512}, {32 << 10, 4 << 10}, {32<<10 + 100, 4 << 10}, {1 << 20, 512}, {1 << 20, 4 << 10},
	} {
		t.Run(fmt.Sprintf("max_head %d, parts of %d", tc.limit, tc.part), func(t *testing.T) {
			var head, want []byte
			for i := 0; len(head)+tc.part <= tc.limit; i++ {
				part := bytes.Repeat([]byte{byte('a' + i%26)}, tc.part)
				head = appendHead(head, part, tc.limit)
				want = append(want, part...)
				if slack := cap(head) - len(head); cap(head) > tc.limit || slack > headStep+len(head)/8 {
					t.Fatalf("a head of %d bytes sits in %d (%d unused); want at most max_head (%d) and %d unused",
						len(head), cap(head), slack, tc.limit, headStep+len(head)/8)
				}
			}
			if !bytes.Equal(head, want) {
				t.Fatalf("the head's bytes changed as it grew")
			}
		})
	}
}
