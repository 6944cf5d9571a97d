package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// Exec runs argv in <path>/current on env's host with the hook environment
// (DEPLOY_*, the `env` key; a login shell when shell=login). One word runs
// as a shell command line (`bash -c word`, like the classic tool's exec);
// several run as an argument vector. Options.Stdin feeds it and
// Options.Stdout receives its output unchanged. A non-zero exit is returned
// wrapped: errors.As finds the transport's error with ExitStatus() int.
func Exec(ctx context.Context, conn Conn, env *config.Env, argv []string, o Options) error {
	if len(argv) == 0 {
		return fmt.Errorf("exec: no command given: e.g. deploy <env> exec 'tail -n 50 log/app.log'")
	}
	args, err := execArgs(env, argv, o)
	if err != nil {
		return err
	}
	mark := script.NewMark()
	line, err := script.Command(mark, "exec", args...)
	if err != nil {
		return err
	}
	out := o.Stdout
	if out == nil {
		out = io.Discard
	}
	errOut := o.Stderr
	if errOut == nil {
		// Both streams into one writer: serialise them (the transport
		// copies each in its own goroutine).
		sw := &syncWriter{w: out}
		out, errOut = sw, sw
	}
	w := &execWriter{out: out, marker: script.MarkerOf(mark)}
	feed := script.NewFeed(o.Stdin)
	err = conn.Run(ctx, line, feed.Stdin(), w, feed.Stderr(errOut))
	feed.Done()
	err = feed.Explain(err, loginUser(conn))
	if msg := w.failure(); msg != "" {
		return hostErr(o.Host, fmt.Errorf("exec: %s", msg))
	}
	if err != nil {
		err = hostErr(o.Host, fmt.Errorf("exec %s: %w", strings.Join(argv, " "), err))
		var st interface{ ExitStatus() int }
		if errors.As(err, &st) && st.ExitStatus() > 0 {
			return &ExitError{Status: st.ExitStatus(), err: err}
		}
		return err
	}
	return nil
}

// ExitError is a command Exec ran that exited non-zero: `deploy <env>
// exec` exits with its Status, as `ssh host cmd` and the classic tool's
// run do, so that a script can test it (deploy production exec 'test -f
// tmp/maintenance').
type ExitError struct {
	Status int
	err    error
}

func (e *ExitError) Error() string { return e.err.Error() }
func (e *ExitError) Unwrap() error { return e.err }

// execWriter passes the command's output through untouched, except when
// the stream starts with the script's protocol (it failed before running
// the command): then it keeps that to report. marker is the run's
// (script.MarkerOf): a command's own output starting "@@deploy fail"
// is output.
type execWriter struct {
	out     io.Writer
	marker  string
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
		if len(h) < len(w.marker) && bytes.HasPrefix([]byte(w.marker), h) {
			return len(p), nil // not enough to tell yet
		}
		w.decided, w.proto = true, bytes.HasPrefix(h, []byte(w.marker))
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
		if m, ok := script.ParseMarked(l, w.marker); ok && m.Kind == script.KindFail {
			return m.After(1)
		}
	}
	return ""
}

// Console opens an interactive login shell (bash -l) in <path>/current on
// env's host through conn.Interactive, with the hook environment
// (SHARED, DEPLOY_ENV, DEPLOY_PATH, DEPLOY_RELEASE=<path>/current and the
// `env` key's variables).
func Console(ctx context.Context, conn Conn, env *config.Env, o Options) error {
	line, err := consoleCommand(env, o)
	if err != nil {
		return err
	}
	return hostErr(o.Host, conn.Interactive(ctx, line))
}

// consoleCommand returns the console's command line: every value quoted.
func consoleCommand(env *config.Env, o Options) (string, error) {
	if _, err := baseArgs(env, o); err != nil {
		return "", err
	}
	cur := env.Path + "/current"
	words := []string{
		serverPathWord("SHARED=", env.Path+"/shared"),
		script.Quote("DEPLOY_ENV=" + env.Name), serverPathWord("DEPLOY_PATH=", env.Path),
		serverPathWord("DEPLOY_RELEASE=", cur),
	}
	vars, _ := varArgs(env.Vars) // checked by baseArgs
	for _, v := range vars {
		words = append(words, script.Quote(strings.TrimPrefix(v, "var=")))
	}
	var b strings.Builder
	b.WriteString("cd -- " + serverPathWord("", cur) + " && exec env")
	for _, w := range words {
		b.WriteString(" " + w)
	}
	b.WriteString(" bash -l")
	return b.String(), nil
}

// execArgs returns the script arguments of an exec of argv.
func execArgs(env *config.Env, argv []string, o Options) ([]string, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	for i, a := range argv {
		if err := config.CheckText(fmt.Sprintf("exec argument %d", i+1), a); err != nil {
			return nil, err
		}
	}
	return append(append(args, "--"), argv...), nil
}

// syncWriter serialises writes from several goroutines into one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// serverPathWord returns prefix+p as one quoted shell word for the login
// shell on the server. A p under `~` (path ~/app) has its ~ written as
// "$HOME", which that shell expands to the login user's home as the remote
// script does; the rest stays single-quoted, so no config value is ever
// shell text.
func serverPathWord(prefix, p string) string {
	if config.IsHomePath(p) {
		rest := ""
		if p != "~" {
			rest = script.Quote(p[1:])
		}
		if prefix != "" {
			return script.Quote(prefix) + `"$HOME"` + rest
		}
		return `"$HOME"` + rest
	}
	return script.Quote(prefix + p)
}
