package main

import (
	"slices"
	"strconv"
	"strings"
)

// invocation is the positional part of a deploy command line:
// `<env> [command] [args]`, as the classic bash deploy reads it.
type invocation struct {
	Env     string   // "" when the file has one env and it was left out
	Command string   // one of commands; "deploy" when none was given
	Ref     string   // deploy: the ref given instead of a command
	N       int      // revert: how many deploys back (default 1)
	Args    []string // exec: the command; config: the key
}

// commands are the words that name a command rather than a ref.
// Aliases from the classic tool map to their canonical name.
var commandAliases = map[string]string{
	"setup": "setup", "revert": "revert", "rollback": "revert",
	"list": "list", "curr": "curr", "current": "curr",
	"prev": "prev", "previous": "prev", "exec": "exec", "run": "exec",
	"console": "console", "config": "config", "status": "status",
	"logs": "logs", "check": "check", "unlock": "unlock",
}

// parseInvocation reads positionals against the env names of the config.
// The env may be left out when envs has exactly one entry.
func parseInvocation(pos []string, envs []string) (*invocation, error) {
	inv := &invocation{Command: "deploy"}
	switch {
	case len(pos) > 0 && slices.Contains(envs, pos[0]):
		inv.Env, pos = pos[0], pos[1:]
	case len(envs) == 1:
		inv.Env = envs[0]
	case len(pos) == 0:
		return nil, usagef("name one of: "+strings.Join(envs, ", "), "no environment given")
	default:
		return nil, usagef("the config defines: "+strings.Join(envs, ", "),
			"unknown environment %q", pos[0])
	}
	if len(pos) == 0 {
		return inv, nil
	}
	cmd, ok := commandAliases[pos[0]]
	if !ok {
		if len(pos) > 1 {
			return nil, usagef("give one ref, or use 'exec' to run a command",
				"unexpected arguments after ref %q: %s", pos[0], strings.Join(pos[1:], " "))
		}
		inv.Ref = pos[0]
		return inv, nil
	}
	inv.Command, inv.Args = cmd, pos[1:]
	return inv, inv.checkArgs()
}

func (inv *invocation) checkArgs() error {
	switch inv.Command {
	case "revert":
		inv.N = 1
		if len(inv.Args) > 1 {
			return usagef("revert takes one number", "too many arguments to revert")
		}
		if len(inv.Args) == 1 {
			n, err := strconv.Atoi(inv.Args[0])
			if err != nil || n < 1 {
				return usagef("'revert 2' goes back two deploys", "revert: %q is not a positive number", inv.Args[0])
			}
			inv.N = n
		}
	case "exec":
		if len(inv.Args) == 0 {
			return usagef("e.g. deploy production exec ls -la", "exec needs a command to run")
		}
	case "logs":
		if len(inv.Args) > 1 {
			return usagef("e.g. deploy production logs -n 50 log/app.log", "logs takes at most one file")
		}
	case "config":
		if len(inv.Args) > 1 {
			return usagef("e.g. deploy production config path", "config takes at most one key")
		}
	default:
		if len(inv.Args) > 0 {
			return usagef("see 'deploy --help'", "%s takes no arguments, got %q", inv.Command, strings.Join(inv.Args, " "))
		}
	}
	return nil
}

// valueFlags are the flags that take a value, so that reorder knows to
// carry the next word along with them.
var valueFlags = map[string]bool{
	"-c": true, "--config": true, "-C": true, "--chdir": true,
	"--ref": true, "--transport": true, "-n": true, "--lines": true, "--timeout": true,
}

// reorder moves flags written after the positionals (`deploy prod
// --dry-run`, as the classic tool allowed) in front of them, because
// urfave/cli stops reading flags at the first positional. Everything after
// `exec`/`run` or `--` is the remote command and stays as it is.
func reorder(args []string) []string {
	if len(args) == 0 {
		return args
	}
	// Shell completion: urfave/cli wants its flag as the very last word
	// and turns completion off after a "--", so leave the line alone.
	if args[len(args)-1] == "--generate-bash-completion" {
		return args
	}
	var flags, pos []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if valueFlags[a] && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		case a == "exec" || a == "run":
			pos = append(pos, args[i:]...)
			i = len(args)
		default:
			pos = append(pos, a)
		}
	}
	out := append([]string{args[0]}, flags...)
	if len(pos) > 0 {
		out = append(append(out, "--"), pos...)
	}
	return out
}
