package deploy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// cutAtSwitch is a connection whose link dies the moment the client's
// switch decision has gone out: nothing the server prints after that
// reaches the client (its `switched` line included), and Run then fails
// as a dropped connection does. The server itself runs to its end.
type cutAtSwitch struct {
	*Local
	cut atomic.Bool
}

func (c *cutAtSwitch) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	pr, pw := io.Pipe()
	go func() {
		// the framed script when the server asked for it (a length
		// line, then that many bytes), then the control lines: the cut
		// comes with the line "switch"
		br := bufio.NewReader(stdin)
		var err error
		for first := true; err == nil; first = false {
			var line string
			if line, err = br.ReadString('\n'); line == "" {
				continue
			}
			_, _ = pw.Write([]byte(line))
			if n, e := strconv.Atoi(strings.TrimSpace(line)); first && e == nil {
				_, err = io.CopyN(pw, br, int64(n))
				continue
			}
			if line == "switch\n" {
				c.cut.Store(true)
			}
		}
		pw.CloseWithError(err)
	}()
	out := writerFunc(func(p []byte) (int, error) {
		if c.cut.Load() {
			return len(p), nil
		}
		return stdout.Write(p)
	})
	err := c.Local.Run(ctx, cmd, pr, out, stderr)
	if c.cut.Load() {
		return errors.New("connection lost (test: cut at the switch)")
	}
	return err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestSwitchSentThenLinkDiedIsUnknown: the link dies right after the
// client asked for the switch, before the script's `switched` line came
// back. The server switched (and the release is live): the client must say
// the outcome is unknown, not that the deploy failed.
func TestSwitchSentThenLinkDiedIsUnknown(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.setup()
	s.deploy()
	o.commit(nil)
	conn := &cutAtSwitch{Local: s.conn}
	res, err := Deploy(ctxFor(t), conn, s.env, s.opts())
	if !conn.cut.Load() {
		t.Fatalf("premise: the switch was never sent (err %v)", err)
	}
	var unknown *OutcomeUnknownError
	if !errors.As(err, &unknown) || unknown.Release != res.NewRelease || res.NewRelease == "" {
		t.Fatalf("err = %v (release %q), want an OutcomeUnknownError for the release switched to", err, res.NewRelease)
	}
	if got := s.current(); got != res.NewRelease {
		t.Fatalf("premise: the server should have switched to %s, current is %s", res.NewRelease, got)
	}
}
