package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/deploytool/deploy/deploy/script"
)

// abortGrace is how long a remote command may take to clean up after the
// caller's context is done (the server removes the half-made release and
// frees the lock) before the connection's Run is cancelled too.
const abortGrace = 30 * time.Second

// heldOutputNote is how long after the script's last line (`exit`) the
// session waits for the server to close its output before it says why it
// still waits: a process a hook left running holds the output, and ssh
// (so the classic tool) waits for it to end. From then on Ctrl-C (ctx
// ending) stops waiting at once: the script is over.
const heldOutputNote = 3 * time.Second

// tailLines is how many lines of a failing step's output an error keeps.
const tailLines = 15

// maxOutputLine bounds what the laptop holds of one line of the server's
// output: a longer line (a minified bundle printed by a build, a binary
// cat by mistake) is passed on in chunks of this size, each but the last
// ending with continuedMark, as procmon's log cuts them. The classic tool
// streams ssh's output and holds nothing; a line held whole until its
// newline could take the laptop's memory.
const maxOutputLine = 64 << 10

// continuedMark ends every chunk of a cut line but the last (procmon's
// logfile.ContinuedMark).
const continuedMark = " [line continues]"

// session is one remote script command running over a Conn. Its output is
// split into lines: protocol lines become events handled by onEvent, the
// others are passed to the caller's writer and kept as the current step's
// tail. The control channel stays open until the script says it exits or
// the caller's context ends.
type session struct {
	out     io.Writer
	marker  string // the run's (script.MarkerOf): what starts a protocol line
	onEvent func(script.Message)

	mu      sync.Mutex
	partial []byte
	cut     bool // partial continues a line already cut (output, not protocol)
	step    string
	tail    []string
	fail    *StepError
	steps   []Step
	// switched: the release went live (`switched`); beforeRevert is the
	// output of the step a rollback began after (non-nil once it began).
	switched     bool
	beforeRevert []string
	started      time.Time
	stepFrom     time.Time

	ctrlR     *io.PipeReader
	ctrlW     *io.PipeWriter
	sendMu    sync.Mutex // one control line or blob at a time
	closeOnce sync.Once
	// detached is closed once the switch was asked for: from then on ctx
	// ending no longer aborts the script, which finishes the restart, the
	// gate and (when they fail) the rollback on its own.
	detached   chan struct{}
	detachOnce sync.Once
	// exited is closed once the script's last line (`exit <status>`)
	// came; exitStatus is its status.
	exited     chan struct{}
	exitOnce   sync.Once
	exitStatus string
	done       chan struct{}
	err        error
}

// startSession runs `sub args…` of the remote script over conn. onEvent is
// called for every protocol line, in order, from the transport's goroutine.
func startSession(ctx context.Context, conn Conn, sub string, args []string, out io.Writer, onEvent func(script.Message)) (*session, error) {
	return startSessionGrace(ctx, conn, sub, args, out, onEvent, abortGrace)
}

// startSessionGrace is startSession with the time the script gets to clean
// up after ctx ends before the command is cut (0 = abortGrace).
func startSessionGrace(ctx context.Context, conn Conn, sub string, args []string, out io.Writer, onEvent func(script.Message), grace time.Duration) (*session, error) {
	return startSessionInput(ctx, conn, sub, args, out, onEvent, grace, nil)
}

// startSessionInput is startSessionGrace with what follows the script on
// stdin: input (a pack, an archive) instead of the control channel when
// it is not nil. The script then gets no decisions: it reads input to
// its end.
func startSessionInput(ctx context.Context, conn Conn, sub string, args []string, out io.Writer, onEvent func(script.Message), grace time.Duration, input io.Reader) (*session, error) {
	if grace <= 0 {
		grace = abortGrace
	}
	mark := script.NewMark()
	line, err := script.Command(mark, sub, args...)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	s := &session{out: out, marker: script.MarkerOf(mark), onEvent: onEvent, done: make(chan struct{}), detached: make(chan struct{}), exited: make(chan struct{}), started: time.Now()}
	s.stepFrom = s.started
	s.ctrlR, s.ctrlW = io.Pipe()
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
			s.closeControl() // EOF: the script aborts what it can and exits
			select {
			case <-time.After(grace):
				cancelRun()
			case <-s.done:
			}
		case <-s.detached:
		case <-s.done:
		}
	}()
	go func() {
		// After the script's last line, only its output being held open
		// keeps the command running: say so, and let ctx stop the wait.
		select {
		case <-s.exited:
		case <-s.done:
			return
		}
		select {
		case <-s.done:
			return
		case <-time.After(heldOutputNote):
			fmt.Fprintf(s.out, "note: the server's script has ended (exit %s), but a process a hook left running still holds its output: waiting for it to end, as ssh does (Ctrl-C stops waiting: the deploy is over)\n", s.exitStatus)
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			cancelRun()
		}
	}()
	go func() {
		defer cancelRun()
		var stderr bytes.Buffer
		in := io.Reader(s.ctrlR)
		if input != nil {
			in = input
		}
		feed := script.NewFeed(in)
		err := conn.Run(runCtx, line, feed.Stdin(), lineWriter{s}, feed.Stderr(&limitedWriter{w: &stderr, n: 8 << 10}))
		feed.Done()
		err = feed.Explain(err, loginUser(conn))
		s.flush()
		s.closeControl()
		s.mu.Lock()
		if s.exitStatus == "0" {
			// the script ended well: what became of its held output
			// afterwards (cut by ctx or a transport's delay) is no error
			err = nil
		}
		s.err = err
		var shell *script.ShellError
		if err != nil && s.fail == nil && stderr.Len() > 0 && !errors.As(err, &shell) {
			s.err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		s.mu.Unlock()
		close(s.done)
	}()
	return s, nil
}

// detach stops ctx from aborting the session: called just before the
// switch, after which the server must finish on its own.
func (s *session) detach() { s.detachOnce.Do(func() { close(s.detached) }) }

// send writes one control line to the script. It fails when the script
// has already ended.
func (s *session) send(word string) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	_, err := io.WriteString(s.ctrlW, word+"\n")
	return err
}

// sendBlob writes "<word> <n>" and then the n bytes of r on the control
// channel (the script's read_blob), with no control line in between.
func (s *session) sendBlob(word string, r io.Reader, n int64) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if _, err := fmt.Fprintf(s.ctrlW, "%s %d\n", word, n); err != nil {
		return err
	}
	got, err := io.CopyN(s.ctrlW, r, n)
	if err != nil {
		return fmt.Errorf("send the %s (%d of %d bytes): %w", word, got, n, err)
	}
	return nil
}

func (s *session) closeControl() {
	s.closeOnce.Do(func() { _ = s.ctrlW.Close() })
}

// wait waits for the remote command to end and returns its error: the
// script's own failure report when it gave one, else the transport's.
func (s *session) wait() error {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.err != nil {
		if s.step == "" { // it ended before its first step
			return fmt.Errorf("remote command: %w", s.err)
		}
		return fmt.Errorf("remote %s: %w", s.step, s.err)
	}
	return nil
}

// lineWriter feeds the transport's stdout into the session.
type lineWriter struct{ s *session }

func (w lineWriter) Write(p []byte) (int, error) {
	s := w.s
	s.mu.Lock()
	s.partial = append(s.partial, p...)
	type piece struct {
		text      string
		chunk     bool // a chunk of a cut line, marked: output only
		tailOfCut bool // the end of a cut line (see line)
	}
	var lines []piece
	for more := true; more; {
		i := bytes.IndexByte(s.partial, '\n')
		switch {
		case i >= 0 && i <= maxOutputLine:
			lines = append(lines, piece{text: string(s.partial[:i]), tailOfCut: s.cut})
			s.partial, s.cut = s.partial[i+1:], false
		case len(s.partial) > maxOutputLine:
			lines = append(lines, piece{text: string(s.partial[:maxOutputLine]) + continuedMark, chunk: true})
			s.partial, s.cut = s.partial[maxOutputLine:], true
		default:
			more = false
		}
	}
	if cap(s.partial) > 4*maxOutputLine {
		// what is left is at most one short line: a fresh buffer, so
		// that a large write's array can go
		s.partial = append([]byte(nil), s.partial...)
	}
	s.mu.Unlock()
	for _, l := range lines {
		if l.chunk {
			s.outputLine(l.text)
		} else {
			s.line(l.text, l.tailOfCut)
		}
	}
	return len(p), nil
}

func (s *session) flush() {
	s.mu.Lock()
	rest, cut := string(s.partial), s.cut
	s.partial, s.cut = nil, false
	s.mu.Unlock()
	if rest != "" {
		s.line(rest, cut)
	}
}

// line handles one line of output: a protocol line is an event, any
// other is the current step's output. A hook whose output does not end
// with a newline (printf 'built', a progress line, a crash mid-line)
// leaves the script's next protocol line glued to it: a known kind after
// the marker inside the line is that line, after the hook's text (the
// client used to miss it, and a deploy waited for a `prepared` it never
// saw). tailOfCut is the end of a line already cut into chunks, whose
// start cannot be a protocol line.
func (s *session) line(l string, tailOfCut bool) {
	ev, ok := script.ParseMarked(l, s.marker)
	if !ok || tailOfCut {
		i := strings.Index(l, s.marker)
		if i < 0 || i == 0 && tailOfCut {
			s.outputLine(l)
			return
		}
		if ev, ok = script.ParseMarked(l[i:], s.marker); !ok || !ev.Kind.Known() {
			s.outputLine(l)
			return
		}
		s.outputLine(l[:i])
	}
	switch ev.Kind {
	case script.KindStep:
		s.beginStep(ev.Rest)
	case script.KindFail:
		s.recordFail(ev.Rest)
	case script.KindSwitched:
		s.mu.Lock()
		s.switched = true
		s.mu.Unlock()
	case script.KindExit:
		s.closeControl()
		s.exitOnce.Do(func() {
			s.mu.Lock()
			s.exitStatus = ev.Field(0)
			s.mu.Unlock()
			close(s.exited)
		})
	case script.KindWaiting:
		fmt.Fprintln(s.out, "waiting for the deploy lock held by "+strings.TrimPrefix(ev.Rest, "lock held by "))
	}
	if s.onEvent != nil {
		s.onEvent(ev)
	}
}

// outputLine passes a line of output on and keeps it in the step's tail.
func (s *session) outputLine(l string) {
	s.mu.Lock()
	s.tail = append(s.tail, l)
	if len(s.tail) > tailLines {
		s.tail = s.tail[len(s.tail)-tailLines:]
	}
	s.mu.Unlock()
	fmt.Fprintln(s.out, l)
}

func (s *session) beginStep(name string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.step != "" {
		s.steps = append(s.steps, Step{Name: s.step, Duration: now.Sub(s.stepFrom)})
	}
	if name == "revert" && s.switched && s.beforeRevert == nil {
		s.beforeRevert = append([]string{}, s.tail...)
	}
	s.step, s.stepFrom, s.tail = name, now, nil
}

// recordFail keeps the first `fail` line as the error, with the output
// that tells its cause: the current step's last lines, except after a
// deploy's rollback, whose report (`fail gate …`, `fail test …`) comes
// once the previous release is back: then it is the lines of the step
// the deploy failed in, before the rollback began. (The error showed the
// rollback's own restart: "reload served: generation 3 ready", under a
// gate that failed because the new workers never listened.)
func (s *session) recordFail(after string) {
	step, msg, _ := strings.Cut(after, " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return // the first report is the cause
	}
	out := s.tail
	if s.beforeRevert != nil && step != s.step {
		out = s.beforeRevert
	}
	s.fail = &StepError{Step: step, Message: msg, Output: append([]string(nil), out...)}
}

// tailLines returns the current step's last output lines.
func (s *session) tailLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tail...)
}

// finishSteps closes the last step and returns every step's timing.
func (s *session) finishSteps() []Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	steps := append([]Step(nil), s.steps...)
	if s.step != "" {
		steps = append(steps, Step{Name: s.step, Duration: time.Since(s.stepFrom)})
	}
	return steps
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// StepError is a remote command failing: the step it failed in, the
// script's message, and the last lines of that step's output (a hook's
// error, git's complaint).
type StepError struct {
	// Host is the host it failed on ("" when the caller did not say).
	Host string
	// Step is the step that failed: lock, fetch, resolve, checkout, shared,
	// pre-deploy, switch, restart, post-deploy, test, revert, prune, …
	Step string
	// Message is the script's explanation.
	Message string
	// Output holds the step's last output lines (at most 15).
	Output []string
}

// Error returns "<step>: <message>" followed by the step's last output
// lines, indented.
func (e *StepError) Error() string {
	var b strings.Builder
	if e.Host != "" {
		b.WriteString(e.Host + ": ")
	}
	b.WriteString(e.Step + ": " + e.Message)
	for _, l := range e.Output {
		b.WriteString("\n    " + l)
	}
	return b.String()
}

// IsLocked reports whether err is a deploy refused because another holds
// the lock.
func IsLocked(err error) bool {
	var se *StepError
	return errors.As(err, &se) && se.Step == "lock" && strings.HasPrefix(se.Message, "locked by ")
}
