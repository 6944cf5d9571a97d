package script

import (
	_ "embed"
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
	// scriptHash names the server's copy of script (see Bootstrap).
	scriptHash = Hash(script)
)
