package main

import (
	"fmt"
	"io"
	"strings"
)

// commandHelp is each command's `deploy <env> <command> --help`: what it
// does, its flags, then examples.
func commandHelp(cmd string) string {
	switch cmd {
	case "deploy":
		return `deploy <env> [<ref>] [--ref REF] [--dry-run] [--json] [--force] [--wait] [-T] [--no-rollback]

Deploys the env's ref (or the ref given) to every host: all hosts prepare in
parallel (lock, fetch, new release, build); only when all prepared do they
switch, in batches of 'batch', each gated on health. Before that it refuses
when the ref is not your local branch's HEAD or has unpushed commits
(--force deploys anyway). --dry-run prints the plan and the changelog and
changes nothing. --json prints one JSON event per line and a final summary.

EXAMPLES:
   deploy production
   deploy production v1.4.2
   deploy production --dry-run
   deploy production --json | jq -c 'select(.summary)'
   deploy production --force        # ship although local commits are unpushed
`
	case "status":
		return `deploy <env> status [--json]

One table for every host: current release and sha, deploys behind the
newest (after a revert), the lock, and with the procmon key the app's
state, ready/total workers, health, CPU/memory/disk and degraded flags.
Changes nothing.

EXAMPLES:
   deploy production status
   deploy production status --json
`
	case "logs":
		return `deploy <env> logs [-f] [-n N] [FILE]

The app's log from every host, each line prefixed with its host: procmon's
log when the env has the procmon key, otherwise FILE (relative to current,
or absolute), or the env's one shared entry ending in .log. -f follows every
host at once until Ctrl-C.

EXAMPLES:
   deploy production logs
   deploy production logs -f -n 20
   deploy staging logs log/production.log
`
	case "check":
		return `deploy <env> check [--ref REF] [--json]

Preflight on every host in parallel, changing nothing: layout present, lock
free, disk space, git and the hooks' commands in the hook shell's PATH, the
ref at the origin, and every host on the same current. Prints a table and a
hint per failure; exits 1 when anything failed.

EXAMPLES:
   deploy production check
   deploy production check --ref v1.5.0
`
	case "revert":
		return "deploy <env> revert [N]\n\nRolls back N successful deploys (default 1) on every host; no fetch.\n\n" +
			"EXAMPLES:\n   deploy production revert\n   deploy production revert 2\n"
	case "setup":
		return "deploy <env> setup\n\nCreates <path>/{repo,releases,shared}, clones the repo, runs post-setup. Harmless twice.\n\n" +
			"EXAMPLES:\n   deploy production setup\n   deploy production setup --accept-new\n"
	case "list", "curr", "prev":
		return "deploy <env> list | curr | prev\n\nThe deploy log (.deploys), the current release, the one 'revert' goes back to.\n\n" +
			"EXAMPLES:\n   deploy production list\n   deploy production curr\n"
	case "exec", "console":
		return "deploy <env> exec <cmd…> | console\n\nRuns a command (or a login shell, on the first host) in current with the hooks' environment.\n\n" +
			"EXAMPLES:\n   deploy production exec ls -la\n   deploy production exec 'tail -n 50 log/app.log'\n   deploy production console\n"
	case "config":
		return "deploy <env> config [key]\n\nPrints the resolved config, or one key. Never connects.\n\n" +
			"EXAMPLES:\n   deploy production config\n   deploy production config path\n"
	case "unlock":
		return "deploy <env> unlock [--force]\n\nBreaks a lock whose holder is gone and says whose it was; --force also stops a holder that still runs.\n\n" +
			"EXAMPLES:\n   deploy production unlock\n   deploy production unlock --force\n"
	}
	return ""
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
