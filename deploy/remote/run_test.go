package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

func TestRunOutputExitCodesAndStdin(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	c := dial(t, target(s), remote.Options{HomeDir: home})

	if want := s.User() + "@" + s.Addr(); c.String() != want {
		t.Errorf("String() = %q, want %q", c.String(), want)
	}
	var out, errb bytes.Buffer
	if err := c.Run(ctxT(t), "echo out; echo err >&2", nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errb.String() != "err\n" {
		t.Errorf("stdout %q stderr %q, want out/err", out.String(), errb.String())
	}

	for _, code := range []int{1, 3, 255} {
		err := c.Run(ctxT(t), fmt.Sprintf("exit %d", code), nil, nil, nil)
		var st interface{ ExitStatus() int }
		if !errors.As(err, &st) || st.ExitStatus() != code {
			t.Errorf("exit %d: err = %v, want ExitStatus() %d", code, err, code)
		}
		ee := asError[*remote.ExitError](t, err)
		wantContains(t, "error", ee.Error(), s.Addr(), fmt.Sprint(code))
	}

	out.Reset()
	in := strings.NewReader("line one\nline two\n")
	if err := c.Run(ctxT(t), "cat; echo done", in, &out, nil); err != nil {
		t.Fatal(err)
	}
	if want := "line one\nline two\ndone\n"; out.String() != want {
		t.Errorf("stdin round trip = %q, want %q", out.String(), want)
	}
}

func TestManySessionsShareOneConnection(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	var st remote.Stats
	c := dial(t, target(s), remote.Options{HomeDir: home, Stats: &st})

	const sequential, concurrent = 20, 5
	for i := 0; i < sequential; i++ {
		if got := output(t, c, fmt.Sprintf("echo %d", i)); got != fmt.Sprintf("%d\n", i) {
			t.Fatalf("run %d: output %q", i, got)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, concurrent)
	for i := 0; i < concurrent; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			if err := c.Run(context.Background(), "echo hi", nil, &out, nil); err != nil || out.String() != "hi\n" {
				errs <- fmt.Errorf("concurrent run: %v (%q)", err, out.String())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := st.Connections.Load(); got != 1 {
		t.Errorf("Connections = %d, want 1", got)
	}
	if got := st.Sessions.Load(); got != sequential+concurrent {
		t.Errorf("Sessions = %d, want %d", got, sequential+concurrent)
	}
	if n := strings.Count(s.Logs(), "Accepted publickey"); n != 1 {
		t.Errorf("sshd accepted %d logins, want 1", n)
	}
}
