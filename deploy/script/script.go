package script

import (
	_ "embed"
	"io"
	"strings"
)

// The remote script, in seven files by concept; they run as one text.
var (
	//go:embed lib.sh
	libScript string
	//go:embed release.sh
	releaseScript string
	//go:embed mirror.sh
	mirrorScript string
	//go:embed gate.sh
	gateScript string
	//go:embed build.sh
	buildScript string
	//go:embed depcache.sh
	depcacheScript string
	//go:embed commands.sh
	commandsScript string
)

// Script returns the text of the remote script (lib.sh, release.sh,
// mirror.sh, gate.sh, build.sh, depcache.sh and commands.sh, in that
// order), the whole server side of deploy.
func Script() string { return script }

// script and framed are computed once: every remote command sends them.
var (
	script = libScript + "\n" + releaseScript + "\n" + mirrorScript + "\n" + gateScript + "\n" + buildScript + "\n" + depcacheScript + "\n" + commandsScript
	framed = Frame(script)
)

// Stdin returns what the remote command line built by Command must read on
// its stdin: the script, framed (Frame), then control, the channel on
// which the client later sends its decisions (see the package doc). When
// control is nil the stream ends after the script.
func Stdin(control io.Reader) io.Reader {
	head := strings.NewReader(framed)
	if control == nil {
		return head
	}
	return io.MultiReader(head, control)
}
