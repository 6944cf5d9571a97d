package deploy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/script"
)

// TestLongOutputLineIsPassedOnInChunks: a hook prints a line of 8 MB
// (a minified bundle, a binary cat by mistake) and one that starts like a
// protocol line and runs past the bound. The laptop used to hold each
// whole until its newline (and keep it in the step's tail); now it passes
// them on in chunks of maxOutputLine, marked as procmon's log marks them,
// loses no byte, and takes no chunk for a protocol line: the failure is
// the hook's own exit status.
func TestLongOutputLineIsPassedOnInChunks(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	s.env.PreDeploy = `printf '@@deploy fail pre-deploy not the script'; head -c 200000 /dev/zero | tr '\0' q; echo; head -c 8000000 /dev/zero | tr '\0' x; exit 3`
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "pre-deploy" || !strings.Contains(se.Message, "pre-deploy hook exited with status 3") {
		t.Fatalf("err = %v, want the hook's own status 3", err)
	}
	for _, l := range se.Output {
		if len(l) > maxOutputLine+len(continuedMark) {
			t.Errorf("the error keeps a line of %d bytes", len(l))
		}
	}
	out := s.out.String()
	if n := strings.Count(out, "x"); n != 8000000 {
		t.Errorf("%d of 8000000 bytes of the long line were passed on", n)
	}
	if n := strings.Count(out, "q"); n != 200000 {
		t.Errorf("%d of 200000 bytes of the protocol-like line were passed on", n)
	}
	if !strings.Contains(out, "@@deploy fail pre-deploy not the script") {
		t.Errorf("the protocol-like line's start was not passed on as output")
	}
	if n, want := strings.Count(out, continuedMark+"\n"), 8000000/maxOutputLine+200000/maxOutputLine+len("@@deploy fail pre-deploy not the script")/maxOutputLine; n != want {
		t.Errorf("%d chunks marked %q, want %d", n, continuedMark, want)
	}
	s.env.PreDeploy = ""
	assertUntouched(t, s, first)
}

// TestLineWriterHoldsOneChunk: whatever comes without a newline, the
// session holds at most maxOutputLine bytes of it between writes.
func TestLineWriterHoldsOneChunk(t *testing.T) {
	var got []script.Message
	var out strings.Builder
	s := &session{out: &out, marker: script.Marker, onEvent: func(m script.Message) { got = append(got, m) }}
	w := lineWriter{s}
	chunk := []byte(strings.Repeat("z", 32<<10))
	for range 1024 { // 32 MB, no newline
		w.Write(chunk)
		if len(s.partial) > maxOutputLine || cap(s.partial) > 4*maxOutputLine+len(chunk) {
			t.Fatalf("holds %d bytes (cap %d)", len(s.partial), cap(s.partial))
		}
	}
	w.Write([]byte("\n@@deploy step next\n"))
	if len(got) != 1 || got[0].Kind != script.KindStep {
		t.Fatalf("events %+v: want the step line after the cut one", got)
	}
	if n := strings.Count(out.String(), "z"); n != 32<<20 {
		t.Errorf("%d of %d bytes passed on", n, 32<<20)
	}
}

// TestHookOutputWithoutNewline: a hook whose output does not end with a
// newline (printf 'built', a progress line, a crash mid-line) left the
// script's next protocol line glued to it. The client missed it: after a
// pre-deploy hook, the `prepared` line, so the deploy waited for ever for
// a decision it never asked for (until its context ended); after a
// failing one, the failure's reason. Each is read now.
func TestHookOutputWithoutNewline(t *testing.T) {
	o, s, _ := deployed(t)
	s.within = 30 * time.Second
	o.commit(nil)
	s.env.PreDeploy = `printf 'built, no newline'`
	res := s.deploy()
	if s.current() != res.NewRelease || !strings.Contains(s.out.String(), "\nbuilt, no newline\n") {
		t.Fatalf("current %s, want %s; output:\n%s", s.current(), res.NewRelease, s.out)
	}
	o.commit(nil)
	s.env.PreDeploy = `printf 'npm ERR! boom'; exit 3`
	_, err := Deploy(s.ctx(), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "pre-deploy" || !strings.Contains(se.Message, "status 3") || !slices.Contains(se.Output, "npm ERR! boom") {
		t.Fatalf("err = %#v, want the hook's status 3 and its output", err)
	}
}
