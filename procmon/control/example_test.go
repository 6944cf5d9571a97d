package control_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// daemon stands in for procmon's supervisor.
type daemon struct{}

func (daemon) Reload(ctx context.Context, wait bool) (control.ReloadResult, error) {
	return control.ReloadResult{Outcome: control.OutcomeAbandoned, Generation: 8, Serving: 7,
		Reason: "not ready within 60s", LogTail: []string{"8/w1 listening on :0"}}, nil
}

func (daemon) Status(ctx context.Context) (control.Status, error) {
	return control.Status{App: "vmblog", State: control.StateReady, Generation: 7}, nil
}

// Example shows both ends: the daemon serves its socket, and
// `procmon reload --wait` asks for a reload and exits with ExitCode.
func Example() {
	dir, _ := os.MkdirTemp("", "pm")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "vmblog.sock")

	srv, err := control.NewServer(sock, "vmblog", daemon{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	defer srv.Close()
	defer cancel()

	r, err := control.NewClient(sock).Reload(context.Background(), true, 90*time.Second)
	control.RenderReload(os.Stdout, r)
	fmt.Println("exit status", control.ExitCode(r, err))
	// Output:
	// reload abandoned: generation 8 failed: not ready within 60s
	// generation 7 keeps serving
	// last log lines of generation 8:
	//   8/w1 listening on :0
	// exit status 3
}
