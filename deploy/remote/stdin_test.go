package remote_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

// Run returns when the remote command exits even though its stdin is still
// open: the deploy script's control channel is, until the script ends (or
// is killed before it could say goodbye). x/crypto/ssh closes its own
// stdin pipe when the command exits; this guards that contract.
func TestRunReturnsWhileStdinStaysOpen(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	c := dial(t, target(s), remote.Options{HomeDir: sshtest.FakeHome(t, "", s)})
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctxT(t), "read -r line; kill -9 $$", pr, nil, nil) }()
	if _, err := pw.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *remote.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("a killed command: err = %v, want an *ExitError", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still waits for stdin after the command was killed")
	}
}
