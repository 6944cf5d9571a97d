package main

import (
	"embed"
	"fmt"
	"io"
	"strings"
)

// helpFiles holds each command's `deploy <env> <command> --help`: what it
// does, its flags, then examples.
//
//go:embed help/*.txt
var helpFiles embed.FS

// helpFile maps a command to its help file (commands that share one).
func helpFile(cmd string) string {
	switch cmd {
	case "curr", "prev":
		return "list"
	case "console":
		return "exec"
	}
	return cmd
}

// commandHelp returns cmd's help text ("" = none).
func commandHelp(cmd string) string {
	b, err := helpFiles.ReadFile("help/" + helpFile(cmd) + ".txt")
	if err != nil {
		return ""
	}
	return string(b)
}

// helpFor returns the command whose help args ask for ("" = none: the
// app's own help, or no help at all). Words after exec are the remote
// command's, except a lone --help (`deploy prod exec --help`).
func helpFor(args []string) string {
	asked, cmd := false, ""
	for i, a := range args[1:] {
		switch {
		case a == "--":
			return ""
		case a == "-h" || a == "--help":
			asked = true
		case cmd == "" && commandAliases[a] != "":
			cmd = commandAliases[a]
			if cmd == "exec" {
				rest := args[i+2:]
				lone := len(rest) == 1 && (rest[0] == "--help" || rest[0] == "-h")
				return ifAsked(asked || lone, cmd)
			}
		}
	}
	return ifAsked(asked, cmd)
}

func ifAsked(asked bool, cmd string) string {
	if asked {
		return cmd
	}
	return ""
}

// printCommandHelp writes cmd's help.
func printCommandHelp(w io.Writer, cmd string) error {
	_, err := fmt.Fprint(w, strings.TrimLeft(commandHelp(cmd), "\n"))
	return err
}
