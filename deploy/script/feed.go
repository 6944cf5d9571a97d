package script

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Feed is the standard input of a command line made by Command, and the
// filter its stderr goes through: the bootstrap says on stderr whether it
// has the server's copy of the script (AskCached) or needs it (AskSend),
// and Feed's Stdin then gives it the framed script followed by control,
// or control alone. Nothing is written to stdin before that line: the
// bootstrap that has its copy never reads a script from stdin, so the
// control channel starts at stdin's first byte.
//
// The line itself never reaches the writer Stderr wraps; what the login
// user's rc files print to stderr before it does, unchanged.
type Feed struct {
	framed  string
	control io.Reader

	once   sync.Once
	asked  chan struct{} // closed once the bootstrap said which
	send   bool          // set before asked is closed
	ended  chan struct{} // closed by Done
	endOne sync.Once
	r      io.Reader // what Read reads, once asked (Read's goroutine only)

	mu     sync.Mutex
	stderr *askWriter // Stderr's, flushed by Done

	wait     time.Duration // for the bootstrap's line (0 = AskWait)
	timedOut atomic.Bool
}

// AskWait bounds the wait for the bootstrap's line: it comes once the
// login shell has read its rc files, which a server's user may have made
// slow (pyenv, nvm, conda: a second or two), but not this slow. An rc
// file that reads stdin would otherwise wait for ever for bytes the Feed
// holds back; past AskWait stdin ends (the bootstrap then finds no
// script: exit 97) and TimedOut says why.
const AskWait = 60 * time.Second

// SetAskWait sets the bound on the wait for the bootstrap's line (tests).
func (f *Feed) SetAskWait(d time.Duration) { f.wait = d }

// TimedOut reports whether stdin was ended because the bootstrap's line
// did not come within AskWait.
func (f *Feed) TimedOut() bool { return f.timedOut.Load() }

// Explain adds to the error of a command whose Feed timed out what most
// likely held the bootstrap back. A command that exited (with a status
// up to 127, 0 included: fish's syntax error is one) and never said the
// bootstrap's line never ran deploy's bash: that is a *ShellError, for
// login, the user the command ran as ("" = unknown). Other errors (a lost
// connection, ctx's end, a signal) are returned as they are.
func (f *Feed) Explain(err error, login string) error {
	if f.TimedOut() && err != nil {
		return fmt.Errorf("%w (the server's login shell did not start deploy's script within %v: does its ~/.bashrc read stdin or wait for something? `ssh <host> true` shows what it does)", err, f.askWait())
	}
	select {
	case <-f.asked: // (checked first: both may be closed)
		return err
	default:
	}
	select {
	case <-f.ended:
	default:
		return err
	}
	// a shell's own exit (0 to 127: fish 0, nologin 1, no bash 127); not
	// a lost connection, ctx's end, or a signal (above 127, or -1)
	var st interface{ ExitStatus() int }
	if err != nil && (!errors.As(err, &st) || st.ExitStatus() < 0 || st.ExitStatus() > 127) {
		return err
	}
	f.mu.Lock()
	a := f.stderr
	f.mu.Unlock()
	said := ""
	if a != nil {
		a.mu.Lock()
		said = string(a.said)
		a.mu.Unlock()
	}
	return &ShellError{Err: err, Said: said, User: login}
}

// ShellError is a command line that ended without deploy's bash having
// started: the login shell sshd ran it through could not or would not
// (nologin, false, fish, csh, no bash on the server). ssh, the classic
// deploy script and Capistrano send their commands through the login
// shell too, as POSIX shell text: under fish or csh they fail the same
// way; this error says why instead of passing on a syntax error, or,
// under fish, which exits 0 after one, nothing at all.
type ShellError struct {
	// Err is the transport's error (nil: the shell exited 0).
	Err error
	// Said is the start of what the command wrote on stderr.
	Said string
	// User is the login user, "" if unknown.
	User string
}

func (e *ShellError) Unwrap() error { return e.Err }

// cause names what most likely kept deploy's bash from starting, by what
// the shell said, and what to do about it (user: the login user).
func (e *ShellError) cause(user string) (text, fix string) {
	said := e.Said
	const posix = "which reads no POSIX shell: deploy sends its command as POSIX shell text through the login shell, as ssh with a command, the classic deploy script and Capistrano do"
	shell := "give " + user + " a POSIX login shell, on the server: sudo usermod --shell /bin/bash " + user + " (`getent passwd " + user + "` shows the one it has)"
	const forced = "a forced command (ForceCommand in sshd_config, command=\"…\" before the key in authorized_keys) runs instead of every command"
	switch {
	case strings.Contains(said, "bash: not found"), strings.Contains(said, "bash: command not found"),
		strings.Contains(said, "bash: No such file or directory"):
		return "bash is not installed there, or not on the login PATH: deploy's script runs in bash",
			"install bash on the server (sudo apt-get install bash), or put it on the login PATH of " + user
	case strings.HasPrefix(said, "fish:"), strings.Contains(said, "\nfish:"):
		return "the login shell is fish, " + posix, shell
	case strings.Contains(said, "Bad : modifier"), strings.Contains(said, "Illegal variable name"),
		strings.Contains(said, "Unmatched "), strings.Contains(said, "Missing }"):
		return "the login shell is csh or tcsh, " + posix, shell
	case strings.TrimSpace(said) == "":
		return "a login shell such as /usr/sbin/nologin or /bin/false (what `adduser --system` and `useradd --system` give an account) runs no command; or " + forced,
			shell + "; or let deploy's key log in without a forced command"
	}
	return "a login shell that is not POSIX (fish, csh) or runs no command (nologin) did not run it; or " + forced,
		shell + "; or let deploy's key log in without a forced command"
}

func (e *ShellError) Error() string {
	var b strings.Builder
	b.WriteString("the server's login shell did not start deploy's script (")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("it exited 0")
	}
	if line, _, _ := strings.Cut(strings.TrimSpace(e.Said), "\n"); line != "" {
		fmt.Fprintf(&b, ", saying %q", line)
	} else {
		b.WriteString(", with nothing on stderr")
	}
	text, _ := e.cause(e.user())
	b.WriteString("): ")
	b.WriteString(text)
	return b.String()
}

// Hint says what to run on the server.
func (e *ShellError) Hint() string {
	_, fix := e.cause(e.user())
	return fix
}

func (e *ShellError) user() string {
	if e.User == "" {
		return "<login user>"
	}
	return e.User
}

func (f *Feed) askWait() time.Duration {
	if f.wait > 0 {
		return f.wait
	}
	return AskWait
}

// NewFeed returns the Feed of a command line made by Command: the remote
// script, then control (nil: nothing after the script).
func NewFeed(control io.Reader) *Feed { return newFeed(framed, control) }

// NewFeedFor is NewFeed for a command line made by CommandFor(text, …).
func NewFeedFor(text string, control io.Reader) *Feed { return newFeed(Frame(text), control) }

func newFeed(framed string, control io.Reader) *Feed {
	return &Feed{framed: framed, control: control, asked: make(chan struct{}), ended: make(chan struct{})}
}

// Stdin returns the command's standard input. Its reads wait for the
// bootstrap's line, and end (io.EOF) if the command ends without one.
func (f *Feed) Stdin() io.Reader { return feedReader{f} }

type feedReader struct{ f *Feed }

func (r feedReader) Read(p []byte) (int, error) {
	f := r.f
	if f.r == nil {
		timer := time.NewTimer(f.askWait())
		defer timer.Stop()
		timedOut := false
		select {
		case <-f.asked:
		case <-f.ended:
		case <-timer.C:
			timedOut = true
		}
		select {
		case <-f.asked: // (it may come with the end or the timer)
		default:
			f.timedOut.Store(timedOut)
			f.r = strings.NewReader("")
			return 0, io.EOF
		}
		var parts []io.Reader
		if f.send {
			parts = append(parts, strings.NewReader(f.framed))
		}
		if f.control != nil {
			parts = append(parts, f.control)
		}
		f.r = io.MultiReader(parts...)
	}
	return f.r.Read(p)
}

// Stderr returns the writer the command's stderr must go to: w, less the
// bootstrap's line.
func (f *Feed) Stderr(w io.Writer) io.Writer {
	a := &askWriter{f: f, w: w}
	f.mu.Lock()
	f.stderr = a
	f.mu.Unlock()
	return a
}

// Done tells the Feed that the command ended: a Stdin still waiting for
// the bootstrap's line gets io.EOF, and what stderr held back while
// looking for it is written out.
func (f *Feed) Done() {
	f.endOne.Do(func() { close(f.ended) })
	f.mu.Lock()
	a := f.stderr
	f.mu.Unlock()
	if a != nil {
		a.flush()
	}
}

// Sent reports whether the script went on stdin (false: the server had
// its copy, or the command ended before the bootstrap said).
func (f *Feed) Sent() bool {
	select {
	case <-f.asked:
		return f.send
	default:
		return false
	}
}

func (f *Feed) answer(send bool) {
	f.once.Do(func() {
		f.send = send
		close(f.asked)
	})
}

// askLimit bounds what stderr holds back while no line came: more than
// this without a newline is passed on but for a tail that could begin
// the line.
const askLimit = 64 << 10

// saidLimit bounds what a ShellError keeps of stderr.
const saidLimit = 4 << 10

// askWriter passes stderr on, less the bootstrap's line. Until that line
// came it holds back what follows the last newline (the line may be
// there, written in pieces, after a partial line of an rc file's).
type askWriter struct {
	f    *Feed
	w    io.Writer
	mu   sync.Mutex
	buf  []byte
	seen bool
	said []byte // the start of what was written before the line (ShellError)
}

func (a *askWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen {
		return a.w.Write(p)
	}
	a.buf = append(a.buf, p...)
	if n := min(len(p), saidLimit-len(a.said)); n > 0 {
		a.said = append(a.said, p[:n]...)
	}
	for _, ask := range []struct {
		line string
		send bool
	}{{AskCached + "\n", false}, {AskSend + "\n", true}} {
		if i := bytes.Index(a.buf, []byte(ask.line)); i >= 0 {
			a.seen = true
			a.f.answer(ask.send)
			rest := append(a.buf[:i:i], a.buf[i+len(ask.line):]...)
			a.buf = nil
			if len(rest) > 0 {
				if _, err := a.w.Write(rest); err != nil {
					return len(p), err
				}
			}
			return len(p), nil
		}
	}
	keep := len(a.buf) - (bytes.LastIndexByte(a.buf, '\n') + 1)
	if len(a.buf) > askLimit && keep > len(AskCached) {
		keep = len(AskCached) // no line is that long: only its start can be here
	}
	if out := len(a.buf) - keep; out > 0 {
		_, err := a.w.Write(a.buf[:out])
		a.buf = append(a.buf[:0], a.buf[out:]...)
		if err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// flush writes out what was held back (the command ended).
func (a *askWriter) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.buf) > 0 {
		_, _ = a.w.Write(a.buf)
		a.buf = nil
	}
}
