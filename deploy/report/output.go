package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deploytool/deploy/deploy"
)

// hostColour is the ANSI colour of the i-th host's prefix (cycling
// through six).
func hostColour(i int) string {
	return [...]string{"36", "33", "35", "32", "34", "31"}[i%6]
}

// OutputOptions choose how an Output looks.
type OutputOptions struct {
	// Colour colours each host's prefix (a terminal without NO_COLOR).
	Colour bool
	// Live keeps one line per host at the bottom with its current step and
	// elapsed time, redrawn in place (a terminal only).
	Live bool
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Width is the terminal's width: live lines are cut to fit, so that
	// none wraps and the redraw stays in place (0 = no limit).
	Width int
}

// Output writes the lines of a command running on several hosts at once:
// each line starts with its host, padded to the longest host name, so
// columns line up; lines from different hosts never interleave. With
// Live it also keeps a live line per host below them. Its methods are safe
// for concurrent use. Close erases the live lines.
type Output struct {
	mu     sync.Mutex
	w      io.Writer
	oo     OutputOptions
	hosts  []string
	width  int
	live   map[string]*liveLine
	drawn  int // live lines on screen below the output
	stop   chan struct{}
	done   chan struct{}
	closed bool
	holds  int      // Hold calls not yet released: nothing is drawn
	held   [][]byte // finished lines kept back while held
}

type liveLine struct {
	step  string
	since time.Time
	start time.Time
	end   string // set once the host is finished
}

// NewOutput returns an Output for hosts (in the order the live lines show
// them). With Live it redraws the live lines every 250 ms until Close.
func NewOutput(w io.Writer, hosts []string, oo OutputOptions) *Output {
	if oo.Now == nil {
		oo.Now = time.Now
	}
	o := &Output{w: w, oo: oo, hosts: hosts, live: map[string]*liveLine{}}
	for _, h := range hosts {
		o.width = max(o.width, len(h))
		o.live[h] = &liveLine{step: "waiting", since: oo.Now(), start: oo.Now()}
	}
	if oo.Live {
		o.stop, o.done = make(chan struct{}), make(chan struct{})
		go o.tick()
	}
	return o
}

// Prefix returns host's line prefix: the name padded to the longest, then
// " | ", coloured when asked.
func (o *Output) Prefix(host string) string {
	name := fmt.Sprintf("%-*s", o.width, host)
	if o.oo.Colour {
		name = "\x1b[" + hostColour(o.index(host)) + "m" + name + "\x1b[0m"
	}
	return name + " | "
}

func (o *Output) index(host string) int {
	for i, h := range o.hosts {
		if h == host {
			return i
		}
	}
	return 0
}

// Host returns a writer whose every line goes out prefixed with host. A
// partial last line is held until its newline (or Flush).
func (o *Output) Host(host string) *HostWriter {
	return &HostWriter{o: o, prefix: []byte(o.Prefix(host))}
}

// Event updates host's live line from a fleet event.
func (o *Output) Event(ev deploy.FleetEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l, ok := o.live[ev.Host]
	if !ok {
		return
	}
	now := o.oo.Now()
	switch ev.Phase {
	case "step":
		l.step, l.since = ev.Step, now
	case "done", "failed", "abort", "revert":
		l.end = ev.Phase
		if ev.Error != "" {
			l.end += ": " + firstLine(strings.TrimPrefix(ev.Error, ev.Host+": "))
		}
	default:
		l.step, l.since = ev.Phase, now
	}
	o.redraw()
}

// Close stops the live lines and erases them.
func (o *Output) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.mu.Unlock()
	if o.stop != nil {
		close(o.stop)
		<-o.done
	}
	o.mu.Lock()
	o.erase()
	for _, l := range o.held {
		_, _ = o.w.Write(l)
	}
	o.held = nil
	o.mu.Unlock()
}

func (o *Output) tick() {
	defer close(o.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.mu.Lock()
			o.redraw()
			o.mu.Unlock()
		}
	}
}

// Hold erases the live lines and keeps the screen still until release
// is called: no redraw, and finished lines are kept back and printed on
// release, so that a question asked on the terminal meanwhile (a key's
// passphrase, a password, a one-time code) is not drawn over or cut by
// another host's output. Holds nest; release may be called more than once.
func (o *Output) Hold() (release func()) {
	o.mu.Lock()
	o.erase()
	o.holds++
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.holds--; o.holds > 0 {
				return
			}
			for _, l := range o.held {
				_, _ = o.w.Write(l)
			}
			o.held = nil
			o.redraw()
		})
	}
}

// writeLine prints one finished line above the live lines.
func (o *Output) writeLine(line []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.holds > 0 {
		o.held = append(o.held, bytes.Clone(line))
		return nil
	}
	o.erase()
	_, err := o.w.Write(line)
	o.redraw()
	return err
}

// erase removes the live lines (caller holds mu).
func (o *Output) erase() {
	if o.drawn > 0 {
		fmt.Fprintf(o.w, "\x1b[%dA\x1b[J", o.drawn)
		o.drawn = 0
	}
}

// redraw draws the live lines again (caller holds mu).
func (o *Output) redraw() {
	if !o.oo.Live || o.closed || o.holds > 0 {
		return
	}
	o.erase()
	var b bytes.Buffer
	now := o.oo.Now()
	for _, h := range o.hosts {
		b.WriteString(o.Prefix(h) + o.fit(o.live[h].text(now)) + "\x1b[K\n")
	}
	_, _ = o.w.Write(b.Bytes())
	o.drawn = len(o.hosts)
}

// fit cuts a live line's text to the terminal's width.
func (o *Output) fit(text string) string {
	room := o.oo.Width - 1 - o.width - len(" | ")
	if o.oo.Width <= 0 || utf8.RuneCountInString(text) <= room {
		return text
	}
	if room < 2 {
		return ""
	}
	return clip(text, room)
}

// text is the live line's content: the step and its elapsed time, or how
// the host ended.
func (l *liveLine) text(now time.Time) string {
	if l.end != "" {
		return fmt.Sprintf("%s (%s)", l.end, now.Sub(l.start).Round(100*time.Millisecond))
	}
	return fmt.Sprintf("%s… %s", l.step, now.Sub(l.since).Round(time.Second))
}

// HostWriter is one host's line writer from Output.Host.
type HostWriter struct {
	o      *Output
	prefix []byte
	mu     sync.Mutex
	buf    []byte
}

var _ io.Writer = (*HostWriter)(nil)

// Write prints every complete line of b with the host's prefix.
func (w *HostWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := append(append([]byte{}, w.prefix...), w.buf[:i+1]...)
		w.buf = w.buf[i+1:]
		if err := w.o.writeLine(line); err != nil {
			return len(b), err
		}
	}
}

// Flush prints a partial last line, ended with a newline.
func (w *HostWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	line := append(append(append([]byte{}, w.prefix...), w.buf...), '\n')
	w.buf = nil
	return w.o.writeLine(line)
}
