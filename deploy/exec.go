package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/deploytool/deploy/hooks"
)

// Exec runs argv in <path>/current on env's host with the hook environment
// (DEPLOY_*, the `env` key; a login shell when shell=login). One word runs
// as a shell command line (`bash -c word`, like the classic tool's exec);
// several run as an argument vector. Options.Stdin feeds it and
// Options.Stdout receives its output unchanged. A non-zero exit is returned
// wrapped: errors.As finds the transport's error with ExitStatus() int.
func Exec(ctx context.Context, conn Conn, env *Env, argv []string, o Options) error {
	if len(argv) == 0 {
		return fmt.Errorf("exec: no command given: e.g. deploy <env> exec 'tail -n 50 log/app.log'")
	}
	args, err := execArgs(env, argv, o)
	if err != nil {
		return err
	}
	line, err := hooks.Command("exec", args...)
	if err != nil {
		return err
	}
	out := o.Stdout
	if out == nil {
		out = io.Discard
	}
	w := &execWriter{out: out}
	var stderr bytes.Buffer
	err = conn.Run(ctx, line, hooks.Stdin(o.Stdin), w, io.MultiWriter(out, &limitedWriter{w: &stderr, n: 4 << 10}))
	if msg := w.failure(); msg != "" {
		return hostErr(o.Host, fmt.Errorf("exec: %s", msg))
	}
	if err != nil {
		return hostErr(o.Host, fmt.Errorf("exec %s: %w", strings.Join(argv, " "), err))
	}
	return nil
}

// execWriter passes the command's output through untouched, except when
// the stream starts with the script's protocol (it failed before running
// the command): then it keeps that to report.
type execWriter struct {
	out     io.Writer
	decided bool
	proto   bool
	head    bytes.Buffer
}

func (w *execWriter) Write(p []byte) (int, error) {
	if w.decided && !w.proto {
		return w.out.Write(p)
	}
	w.head.Write(p)
	if !w.decided {
		h := w.head.Bytes()
		if len(h) < len(marker) && bytes.HasPrefix([]byte(marker), h) {
			return len(p), nil // not enough to tell yet
		}
		w.decided, w.proto = true, bytes.HasPrefix(h, []byte(marker))
		if !w.proto {
			_, err := w.out.Write(h)
			w.head.Reset()
			return len(p), err
		}
	}
	return len(p), nil
}

// failure returns the script's fail message, if it sent one.
func (w *execWriter) failure() string {
	if !w.decided && w.head.Len() > 0 {
		_, _ = w.out.Write(w.head.Bytes())
	}
	for _, l := range strings.Split(w.head.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, marker+"fail "); ok {
			_, msg, _ := strings.Cut(rest, " ")
			return msg
		}
	}
	return ""
}

// execArgs returns the script arguments of an exec of argv.
func execArgs(env *Env, argv []string, o Options) ([]string, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	for i, a := range argv {
		if err := hooks.CheckText(fmt.Sprintf("exec argument %d", i+1), a); err != nil {
			return nil, err
		}
	}
	return append(append(args, "--"), argv...), nil
}
