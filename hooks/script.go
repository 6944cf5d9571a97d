package hooks

import (
	_ "embed"
	"io"
	"strings"
)

//go:embed remote.sh
var script string

// Script returns the text of the remote script (remote.sh), the whole
// server side of deploy.
func Script() string { return script }

// Stdin returns what the remote command line built by Command must read on
// its stdin: the script, a NUL that ends it, then control, the channel on
// which the client later sends its decisions (see the package doc). When
// control is nil the stream ends after the NUL.
func Stdin(control io.Reader) io.Reader {
	head := strings.NewReader(script + "\x00")
	if control == nil {
		return head
	}
	return io.MultiReader(head, control)
}
