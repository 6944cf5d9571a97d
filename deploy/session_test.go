package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/script"
)

// scriptedConn asks for the script (as a server without its copy does),
// plays canned output in the given chunks, then (like ssh's Session.Wait)
// waits for its stdin to end before returning. In the chunks, "@@deploy "
// is the script's protocol line start: it becomes the run's marker (the
// mark the command line gives), and "@@plain " becomes "@@deploy ", as a
// hook may print it.
type scriptedConn struct {
	chunks []string
	stdin  bytes.Buffer
}

var markArg = regexp.MustCompile(`'mark=([0-9a-f]{16})'`)

func (c *scriptedConn) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	// the bootstrap of a server without a copy of the script
	if _, err := io.WriteString(stderr, script.AskSend+"\n"); err != nil {
		return err
	}
	m := markArg.FindStringSubmatch(cmd)
	if m == nil {
		return fmt.Errorf("no mark in %s", cmd)
	}
	for _, ch := range remarked(c.chunks, script.MarkerOf(m[1])) {
		if _, err := io.WriteString(stdout, ch); err != nil {
			return err
		}
	}
	_, err := io.Copy(&c.stdin, stdin)
	return err
}

// remarked returns chunks with each "@@deploy " of their text replaced
// by marker and each "@@plain " by "@@deploy ", split where they were
// (a marker cut between two chunks stays cut: marker and "@@deploy "
// share their start, "@@deploy", and "@@plain" is as long).
func remarked(chunks []string, marker string) []string {
	all := strings.Join(chunks, "")
	ends := map[int]string{} // the space ending a marker → what it becomes
	for _, r := range []struct{ from, to string }{{script.Marker, marker[len("@@deploy"):]}, {"@@plain ", " "}} {
		for i := 0; ; {
			k := strings.Index(all[i:], r.from)
			if k < 0 {
				break
			}
			ends[i+k+len(r.from)-1] = r.to
			i += k + len(r.from)
		}
	}
	var out []string
	pos := 0
	for _, ch := range chunks {
		var b strings.Builder
		for j := 0; j < len(ch); j++ {
			if to, ok := ends[pos]; ok {
				b.WriteString(to)
			} else if strings.HasPrefix(all[pos:], "@@plain ") {
				b.WriteString("@@deploy")
				j += len("@@plain") - 1
				pos += len("@@plain") - 1
			} else {
				b.WriteByte(ch[j])
			}
			pos++
		}
		out = append(out, b.String())
	}
	return out
}

func (c *scriptedConn) Interactive(context.Context, string) error { return errors.New("no") }
func (c *scriptedConn) Close() error                              { return nil }

func TestSessionParsing(t *testing.T) {
	conn := &scriptedConn{chunks: []string{
		"@@dep", "loy step fetch\nfetching…\n@@deploy step pre-de", "ploy\nnpm ERR! one\nnpm ERR! two",
		"\n@@plain exit 0\n@@deploy fail pre-deploy hook exited with status 1\n@@deploy fail pre-deploy exit status 1\n",
		"@@deploy exit 1\n",
	}}
	var out bytes.Buffer
	var events []string
	s, err := startSession(context.Background(), conn, "deploy", nil, &out, func(ev script.Message) { events = append(events, string(ev.Kind)) })
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end: `exit` must close the control channel")
	}
	var se *StepError
	if !errors.As(err, &se) || se.Step != "pre-deploy" || se.Message != "hook exited with status 1" {
		t.Fatalf("err = %#v", err)
	}
	if got := strings.Join(se.Output, "|"); got != "npm ERR! one|npm ERR! two|@@deploy exit 0" {
		t.Errorf("output = %q", got)
	}
	if out.String() != "fetching…\nnpm ERR! one\nnpm ERR! two\n@@deploy exit 0\n" {
		t.Errorf("plain output = %q", out.String())
	}
	if got := strings.Join(events, " "); got != "step step fail fail exit" {
		t.Errorf("events = %q", got)
	}
	if conn.stdin.String() != script.Frame(script.Script()) {
		t.Errorf("stdin is not the framed script")
	}
	if steps := s.finishSteps(); len(steps) != 2 || steps[0].Name != "fetch" || steps[1].Name != "pre-deploy" {
		t.Errorf("steps = %+v", steps)
	}
}

func TestStepErrorText(t *testing.T) {
	err := &StepError{Host: "web1", Step: "pre-deploy", Message: "pre-deploy hook exited with status 2", Output: []string{"make: *** Error 2"}}
	want := "web1: pre-deploy: pre-deploy hook exited with status 2\n    make: *** Error 2"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	locked := &StepError{Step: "lock", Message: "locked by a@b (pid 1, deploy) since x: wait with --wait"}
	if !IsLocked(locked) || IsLocked(err) {
		t.Error("IsLocked is wrong")
	}
}

// TestFailAfterRollbackKeepsTheFailedStepsOutput: a deploy's gate or test
// hook fails, the script puts the previous release back (its own switch
// and restart), then reports the failure. The error's lines are those of
// the step that failed, not the rollback's restart ("reload served").
func TestFailAfterRollbackKeepsTheFailedStepsOutput(t *testing.T) {
	for _, tc := range []struct{ failed, fail, want string }{
		{"restart", "gate restart or health gate failed: procmon reload --wait exited with status 3", "reload abandoned: worker 1: it listens on 127.0.0.1:3000"},
		{"test", "test test hook exited with status 1", "curl: (22) The requested URL returned error: 500"},
	} {
		conn := &scriptedConn{chunks: []string{
			"@@deploy step switch\n@@deploy switched 2026-x abc\n",
			"@@deploy step " + tc.failed + "\n" + tc.want + "\n",
			"@@deploy step revert\n@@deploy step switch\n@@deploy reverted 2026-w 123\n@@deploy step restart\nreload served: generation 3 ready in 1.66s\n",
			"@@deploy fail " + tc.fail + ": reverted to 2026-w\n@@deploy exit 1\n",
		}}
		s, err := startSession(context.Background(), conn, "deploy", nil, io.Discard, nil)
		if err != nil {
			t.Fatal(err)
		}
		var se *StepError
		if err := s.wait(); !errors.As(err, &se) || strings.Join(se.Output, "|") != tc.want {
			t.Errorf("a %s failing before the rollback: %v, want its own line %q", tc.failed, err, tc.want)
		}
	}
	// A revert (no deploy switched before its revert step) whose own gate
	// fails keeps its restart's lines.
	conn := &scriptedConn{chunks: []string{
		"@@deploy step lock\n@@deploy step revert\n@@deploy step switch\n@@deploy step restart\nreload abandoned: no\n",
		"@@deploy fail gate restart or health gate failed: status 3\n@@deploy exit 1\n",
	}}
	s, err := startSession(context.Background(), conn, "revert", nil, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	var se *StepError
	if err := s.wait(); !errors.As(err, &se) || strings.Join(se.Output, "|") != "reload abandoned: no" {
		t.Errorf("a revert whose gate fails: %v, want its restart's line", err)
	}
}
