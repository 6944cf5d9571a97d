package sdnotify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// childEnv makes the test binary act as a worker that reports readiness.
const childEnv = "PROCMON_SDNOTIFY_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		n := FromEnv(os.Getenv)
		if err := n.Send("STATUS=booting"); err != nil {
			os.Exit(2)
		}
		if err := n.Ready(); err != nil {
			os.Exit(3)
		}
		return
	}
	os.Exit(m.Run())
}

// TestChildReadiness runs a real child process with NOTIFY_SOCKET pointing
// at a Listener, as procmon's notify readiness check does, and checks its
// messages arrive in order carrying the child's pid.
func TestChildReadiness(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "workers.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "NOTIFY_SOCKET="+l.Path())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, want := range []string{"STATUS", "READY"} {
		m, err := l.Receive(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if len(m.Keys) != 1 || m.Keys[0] != want || m.PID != cmd.Process.Pid {
			t.Fatalf("got %v from pid %d, want %s from child pid %d", m.Keys, m.PID, want, cmd.Process.Pid)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}
