package deploy

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/deploytool/deploy/deploy/config"
)

// LogOptions choose what Logs shows.
type LogOptions struct {
	// Follow keeps printing new lines until ctx ends (tail -F).
	Follow bool
	// Lines is how many past lines to print first (0 = 100).
	Lines int
	// File is the log file to tail when the env has no procmon key:
	// relative to <path>/current, or absolute. "" = the env's one shared
	// entry ending in ".log" (in <path>/shared), if there is exactly one.
	File string
}

// LogCommand returns the command line Logs runs on each host: with the
// env's procmon key `procmon logs [-f] -n N -c <procmon>`, otherwise
// `tail [-F] -n N -- <file>`. Every value is a quoted word.
func LogCommand(env *config.Env, lo LogOptions) (string, error) {
	n := lo.Lines
	if n == 0 {
		n = 100
	}
	if n < 0 {
		return "", fmt.Errorf("logs: -n %d must be a positive number of lines", n)
	}
	if env.Procmon != "" {
		if lo.File != "" {
			return "", fmt.Errorf("logs: env %s reads procmon's log; a file (%s) is only for envs without the procmon key", env.Name, lo.File)
		}
		args := []string{"logs"}
		if lo.Follow {
			args = append(args, "-f")
		}
		return procmonCommand(env, append(args, "-n", strconv.Itoa(n))...)
	}
	file, err := logFile(env, lo.File)
	if err != nil {
		return "", err
	}
	words := []string{"tail"}
	if lo.Follow {
		words = append(words, "-F")
	}
	words = append(words, "-n", strconv.Itoa(n), "--", serverPathWord("", file))
	return strings.Join(words, " "), nil
}

// logFile picks the absolute path of the log to tail.
func logFile(env *config.Env, file string) (string, error) {
	if err := config.CheckPath(env.Path); err != nil {
		return "", fmt.Errorf("env %s: %w", env.Name, err)
	}
	if file == "" {
		var logs []string
		for _, s := range env.Shared {
			if strings.HasSuffix(s, ".log") {
				logs = append(logs, s)
			}
		}
		if len(logs) != 1 {
			return "", fmt.Errorf("logs: env %s has no procmon key and no single shared *.log file to read: "+
				"set procmon, or name the file: deploy %s logs log/production.log", env.Name, env.Name)
		}
		return path.Join(env.Path, "shared", logs[0]), nil
	}
	if path.IsAbs(file) {
		if err := config.CheckPath(file); err != nil {
			return "", fmt.Errorf("logs: %w", err)
		}
		return path.Clean(file), nil
	}
	if err := config.CheckRelPath("log file", file); err != nil {
		return "", fmt.Errorf("logs: %w", err)
	}
	return path.Join(env.Path, "current", file), nil
}

// Logs prints the app's log on the host behind conn to o.Stdout (errors
// to o.Stderr) with LogCommand's command. With Follow it returns when ctx
// ends, with ctx's error.
func Logs(ctx context.Context, conn Conn, env *config.Env, lo LogOptions, o Options) error {
	line, err := LogCommand(env, lo)
	if err != nil {
		return err
	}
	errOut := o.Stderr
	if errOut == nil {
		errOut = o.Stdout
	}
	if err := conn.Run(ctx, line, nil, o.Stdout, errOut); err != nil {
		return hostErr(o.Host, fmt.Errorf("logs: %w", err))
	}
	return nil
}
