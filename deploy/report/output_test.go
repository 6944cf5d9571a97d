package report

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/internal/syncbuf"
)

func TestOutputPrefixAligned(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	o := NewOutput(&b, []string{"web1", "deploy@web-long:2222"}, OutputOptions{})
	w1, w2 := o.Host("web1"), o.Host("deploy@web-long:2222")
	fmt.Fprint(w1, "fetch\nbuil")
	fmt.Fprint(w2, "done\n")
	fmt.Fprint(w1, "d ok\n")
	fmt.Fprint(w1, "partial")
	if err := w1.Flush(); err != nil {
		t.Fatal(err)
	}
	o.Close()
	want := "web1                 | fetch\n" +
		"deploy@web-long:2222 | done\n" +
		"web1                 | build ok\n" +
		"web1                 | partial\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestOutputColour(t *testing.T) {
	t.Parallel()
	var plain, coloured bytes.Buffer
	fmt.Fprintln(NewOutput(&plain, []string{"a", "bb"}, OutputOptions{}).Host("bb"), "x")
	o := NewOutput(&coloured, []string{"a", "bb"}, OutputOptions{Colour: true})
	fmt.Fprintln(o.Host("a"), "x")
	fmt.Fprintln(o.Host("bb"), "x")
	if strings.Contains(plain.String(), "\x1b") {
		t.Errorf("plain output has escapes: %q", plain.String())
	}
	want := "\x1b[36ma \x1b[0m | x\n\x1b[33mbb\x1b[0m | x\n"
	if coloured.String() != want {
		t.Errorf("coloured = %q, want %q", coloured.String(), want)
	}
}

// Lines written at once from many goroutines come out whole, each with
// its own host's prefix.
func TestOutputConcurrentLinesDoNotInterleave(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	hosts := []string{"h0", "h1", "h2", "h3"}
	o := NewOutput(&b, hosts, OutputOptions{})
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := o.Host(h)
			for i := range 200 {
				fmt.Fprintf(w, "line %d of %s\n", i, h)
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		host, rest, _ := strings.Cut(l, " | ")
		if !strings.HasPrefix(rest, "line ") || !strings.HasSuffix(rest, " of "+host) {
			t.Fatalf("mangled line %q", l)
		}
	}
}

// With Live, each host has a line at the bottom with its step and time;
// a host's output line goes above them (erase, print, redraw), and Close
// erases them.
func TestOutputLiveLines(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o := NewOutput(&b, []string{"a", "b"}, OutputOptions{Live: true, Now: clock})
	o.Event(deploy.FleetEvent{Host: "a", Phase: "step", Step: "fetch"})
	mu.Lock()
	now = now.Add(3 * time.Second)
	mu.Unlock()
	fmt.Fprintln(o.Host("b"), "hello")
	o.Event(deploy.FleetEvent{Host: "b", Phase: "failed", Error: "boom"})
	o.Close()
	out := b.String()
	for _, want := range []string{
		"a | fetch… 0s\x1b[K\n",
		"\x1b[2A\x1b[Jb | hello\n",
		"a | fetch… 3s\x1b[K\n",
		"b | failed: boom (3s)\x1b[K\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("live output lacks %q:\n%q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\x1b[2A\x1b[J") {
		t.Errorf("Close did not erase the live lines: %q", out[max(0, len(out)-40):])
	}
}

// A live line never wraps: it is cut to the terminal's width.
func TestOutputLiveLineFitsWidth(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	o := NewOutput(&b, []string{"web1"}, OutputOptions{Live: true, Width: 30})
	o.Event(deploy.FleetEvent{Host: "web1", Phase: "failed", Error: "web1: lock: locked by root@vm (pid 1) since a long time\nsecond line"})
	o.Close()
	for _, l := range strings.Split(b.String(), "\n") {
		if i := strings.LastIndex(l, "\x1b[J"); i >= 0 {
			l = l[i+len("\x1b[J"):]
		}
		visible := strings.TrimSuffix(l, "\x1b[K")
		if strings.Contains(l, "failed") && (utf8.RuneCountInString(visible) > 30 || !strings.HasSuffix(visible, "…")) {
			t.Errorf("live line %q is %d wide, want <= 30 and cut", visible, utf8.RuneCountInString(visible))
		}
		if strings.Contains(l, "second line") || strings.Contains(l, "| failed: web1:") {
			t.Errorf("live line %q keeps the host or a second line", l)
		}
	}
}

// A question on the terminal (a passphrase, a password, a one-time code
// asked while a fleet's hosts log in) must not be drawn over: Hold erases
// the live lines, no tick redraws them and no host's line is printed
// until release, which prints the kept lines and draws the live lines
// again.
func TestOutputHoldKeepsTheScreenStillForAQuestion(t *testing.T) {
	t.Parallel()
	var b syncbuf.Buffer
	o := NewOutput(&b, []string{"a", "b"}, OutputOptions{Live: true})
	o.Event(deploy.FleetEvent{Host: "a", Phase: "step", Step: "connect"})
	release := o.Hold()
	held := b.String()
	if !strings.HasSuffix(held, "\x1b[2A\x1b[J") {
		t.Fatalf("Hold did not erase the live lines: %q", held)
	}
	fmt.Fprintln(o.Host("b"), "cloning")
	o.Event(deploy.FleetEvent{Host: "b", Phase: "step", Step: "fetch"})
	time.Sleep(600 * time.Millisecond) // two ticks
	if got := b.String(); got != held {
		t.Fatalf("the screen changed while held: %q", got[len(held):])
	}
	release()
	release() // a second call does nothing
	after := b.String()[len(held):]
	if !strings.HasPrefix(after, "b | cloning\n") || !strings.Contains(after, "b | fetch… ") {
		t.Errorf("after release: %q; want the kept line, then the live lines", after)
	}
	o.Close()
}
