package main

import (
	"fmt"
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
	N       int      // revert: how many deploys back (default 1); scale: the workers
	Args    []string // exec: the command; config: the key
}

// commands lists every command word: its canonical name first, then the
// classic tool's aliases for it.
func commands() [][]string {
	return [][]string{
		{"setup"}, {"revert", "rollback"}, {"list"}, {"curr", "current"},
		{"prev", "previous"}, {"exec", "run"}, {"console"}, {"config"},
		{"status"}, {"logs"}, {"check"}, {"trust"}, {"unlock"}, {"scale"},
	}
}

// commandOf returns the canonical command a word names ("" = none).
func commandOf(word string) string {
	for _, names := range commands() {
		for _, n := range names {
			if n == word {
				return names[0]
			}
		}
	}
	return ""
}

// parseInvocation reads positionals against the env names of the config,
// in order: `<env> [command] [args]`, `<env> <ref>`, or nothing at all.
//
// The env may be left out only when the file has exactly one env and no
// word at all is given (`deploy`, `deploy --dry-run`): then it is that env.
// The first word must be an env: anything else is an error naming close
// env names, never a ref, even with one env (`deploy staging` must not ship
// a branch "staging" to production). A command without its env (`deploy
// setup`) is an error too, with the full command as the hint: it would be
// unambiguous with one env, but a command that acts on servers always names
// them, and adding a second env to the file must not change what a command
// line means.
//
// After the env comes a command or a ref. A word one typo away from a
// command (`rollbak`, `stauts`) is an error, not a ref: `--ref` deploys a
// branch of that name. Any other word is a ref (`deploy production v1.4.2`).
// help and version never reach here (see metaRequest).
func parseInvocation(pos []string, envs []string) (*invocation, error) {
	inv := &invocation{Command: "deploy"}
	if len(pos) == 0 {
		if len(envs) == 1 {
			inv.Env = envs[0]
			return inv, nil
		}
		return nil, usagef("name one of: "+strings.Join(envs, ", "), "no environment given")
	}
	if !slices.Contains(envs, pos[0]) {
		return nil, unknownEnv(pos, envs)
	}
	inv.Env, pos = pos[0], pos[1:]
	if len(pos) == 0 {
		return inv, nil
	}
	cmd := commandOf(pos[0])
	if cmd == "" {
		if err := notACommand(inv.Env, pos[0]); err != nil {
			return nil, err
		}
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

// unknownEnv explains a first word that is not an env: a command whose env
// was left out, a mistyped env, or a ref written where the env goes.
func unknownEnv(pos []string, envs []string) error {
	word := pos[0]
	example := "<env>"
	if len(envs) == 1 {
		example = envs[0]
	}
	defines := "the config defines: " + strings.Join(envs, ", ")
	if cmd := commandOf(word); cmd != "" {
		hint := "name it: deploy " + example + " " + strings.Join(pos, " ")
		if len(envs) > 1 {
			hint += ", where <env> is one of: " + strings.Join(envs, ", ")
		}
		return usagef(hint, "%s needs the environment first", word)
	}
	var near []string
	for _, e := range envs {
		if closeEnv(word, e) {
			near = append(near, e)
		}
	}
	if len(near) > 0 {
		return usagef(defines, "unknown environment %q: did you mean %s?", word, orList(near))
	}
	hint := defines
	if sugg := commandSuggestions(word); len(sugg) > 0 {
		hint += "; commands go after the env: deploy " + example + " " + strings.Split(sugg[0], "/")[0]
	} else if len(pos) == 1 {
		hint += "; a ref goes after the env: deploy " + example + " " + word
	}
	return usagef(hint, "unknown environment %q", word)
}

// notACommand refuses a word after the env that is one typo away from a
// command: deploying it as a ref would ship a branch nobody meant.
func notACommand(env, word string) error {
	sugg := commandSuggestions(word)
	if len(sugg) == 0 {
		return nil
	}
	return usagef(fmt.Sprintf("use --ref %s if you mean a branch or tag of that name: deploy %s --ref %s", word, env, word),
		"unknown command %q: did you mean %s?", word, orList(sugg))
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
	case "scale":
		if len(inv.Args) != 1 {
			return usagef("e.g. deploy production scale 4", "scale takes one number: the workers each host's procmon runs")
		}
		n, err := strconv.Atoi(inv.Args[0])
		if err != nil || n < 0 {
			return usagef("e.g. deploy production scale 4", "scale: %q is not a number of workers", inv.Args[0])
		}
		inv.N = n
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

// takesValue reports whether flag takes a value, so that splitArgs
// carries the next word along with it.
func takesValue(flag string) bool {
	switch flag {
	case "-c", "--config", "-C", "--chdir", "-F", "--ssh-config", "--ref", "--transport", "-n", "--lines",
		"--host", "--path", "--repo":
		return true
	}
	return false
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
	if completing(args) {
		return args
	}
	flags, pos := splitArgs(args)
	out := append([]string{args[0]}, flags...)
	if len(pos) > 0 {
		out = append(append(out, "--"), pos...)
	}
	return out
}

// completing reports whether args ask for shell completion
// (urfave/cli's --generate-bash-completion, always the last word).
func completing(args []string) bool {
	return len(args) > 0 && args[len(args)-1] == "--generate-bash-completion"
}

// splitArgs splits args (args[0] is the program) into flags, with their
// values, and positionals. Everything after `exec`/`run` or `--` is a
// positional: the remote command's own words.
func splitArgs(args []string) (flags, pos []string) {
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(pos, args[i+1:]...)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if takesValue(a) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		case a == "exec" || a == "run":
			return flags, append(pos, args[i:]...)
		default:
			pos = append(pos, a)
		}
	}
	return flags, pos
}
