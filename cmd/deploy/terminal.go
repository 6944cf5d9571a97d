package main

import (
	"io"
	"os"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/report"
	"golang.org/x/term"
)

// outputOptions decides colour and live lines: only when w is a terminal,
// and no colour when NO_COLOR is set or TERM is dumb.
func outputOptions(w io.Writer) report.OutputOptions {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" {
		return report.OutputOptions{}
	}
	_, noColour := os.LookupEnv("NO_COLOR")
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		width = 80
	}
	return report.OutputOptions{Colour: !noColour, Live: true, Width: width}
}

// hostNames are the env's hosts as written in the config.
func hostNames(hosts []config.Host) []string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.String()
	}
	return names
}
