package main

import (
	"context"
	"embed"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
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

// meta is what a command line asks of deploy itself rather than of a
// server: help or the version. It is read from the words alone, before
// the config, so asking for it never connects anywhere.
type meta struct {
	help    bool
	version bool
	// topic is the command whose help is asked for: "" = the app's help
	// (every command), "deploy" = what `deploy <env>` does.
	topic string
}

// metaOf reads a help or version request from args (args[0] is the
// program); ok is false when args ask for neither. Help is asked for by
// -h/--help anywhere before an exec'd command (`deploy prod exec grep
// --help` sends --help to grep; a lone `exec --help` is exec's help), or
// by the word help first or after the env: `deploy help [command]`,
// `deploy <env> help [command]`. The version likewise: -v/--version,
// `deploy version`, `deploy <env> version`. These words win over an env
// of the same name.
func metaOf(args []string) (m meta, ok bool, err error) {
	if completing(args) {
		return m, false, nil
	}
	flags, pos := splitArgs(args)
	for _, f := range flags {
		m.help = m.help || f == "-h" || f == "--help"
		m.version = m.version || f == "-v" || f == "--version"
	}
	for i := 0; i < len(pos) && i < 2; i++ {
		switch pos[i] {
		case "help":
			if len(pos) == i+1 {
				return meta{help: true}, true, nil
			}
			topic, err := helpTopic(pos[i+1])
			return meta{help: true, topic: topic}, err == nil, err
		case "version":
			m.version = true
		case "exec", "run":
			rest := pos[i+1:]
			if len(rest) == 1 && (rest[0] == "--help" || rest[0] == "-h") {
				return meta{help: true, topic: "exec"}, true, nil
			}
		}
	}
	if m.help {
		m.version = false
		m.topic = impliedTopic(pos)
	}
	return m, m.help || m.version, nil
}

// impliedTopic is the command a line with --help is about: the first
// command word among the first two (`deploy [<env>] revert --help`), else
// a deploy when an env (or anything) is named, else none (the app's help).
func impliedTopic(pos []string) string {
	if len(pos) > 0 && pos[0] == "version" {
		return ""
	}
	if len(pos) > 0 && pos[0] == "init" {
		return "init"
	}
	for i := 0; i < len(pos) && i < 2; i++ {
		if cmd := commandOf(pos[i]); cmd != "" {
			return cmd
		}
	}
	if len(pos) > 0 {
		return "deploy"
	}
	return ""
}

// helpTopic checks the word after `help`.
func helpTopic(word string) (string, error) {
	if word == "deploy" || word == "init" {
		return word, nil
	}
	if cmd := commandOf(word); cmd != "" {
		return cmd, nil
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c[0])
	}
	if sugg := commandSuggestions(word); len(sugg) > 0 {
		return "", usagef("'deploy --help' lists every command", "no help for %q: did you mean %s?", word, orList(sugg))
	}
	return "", usagef("the commands are: "+strings.Join(names, ", ")+"; 'deploy --help' shows them all",
		"no help for %q: not a command", word)
}

// printMeta prints what m asks for. The app's own help is urfave/cli's,
// rendered by app.
func printMeta(ctx context.Context, m meta, app *cli.App, stdout io.Writer) error {
	switch {
	case m.help && m.topic == "":
		return app.RunContext(ctx, []string{app.Name, "--help"})
	case m.help:
		return printCommandHelp(stdout, m.topic)
	}
	_, err := fmt.Fprintf(stdout, "%s version %s\n", app.Name, app.Version)
	return err
}

// printCommandHelp writes cmd's help.
func printCommandHelp(w io.Writer, cmd string) error {
	_, err := fmt.Fprint(w, strings.TrimLeft(commandHelp(cmd), "\n"))
	return err
}
