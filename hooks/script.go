package hooks

import (
	_ "embed"
	"io"
	"strconv"
	"strings"
)

// The remote script, in four files by concept; they run as one text.
var (
	//go:embed lib.sh
	libScript string
	//go:embed release.sh
	releaseScript string
	//go:embed gate.sh
	gateScript string
	//go:embed commands.sh
	commandsScript string
)

// Script returns the text of the remote script (lib.sh, release.sh,
// gate.sh and commands.sh, in that order), the whole server side of deploy.
func Script() string {
	return libScript + "\n" + releaseScript + "\n" + gateScript + "\n" + commandsScript
}

// Stdin returns what the remote command line built by Command must read on
// its stdin: the script's length in bytes on a line, the script, then
// control, the channel on which the client later sends its decisions (see
// the package doc). When control is nil the stream ends after the script.
func Stdin(control io.Reader) io.Reader {
	head := strings.NewReader(framed(Script()))
	if control == nil {
		return head
	}
	return io.MultiReader(head, control)
}

// framed is script as the bootstrap reads it: its length in bytes on a
// line, then the script.
func framed(script string) string { return strconv.Itoa(len(script)) + "\n" + script }
