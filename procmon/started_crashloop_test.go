package procmon

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Mode none (ready.check "started"): a worker that dies as soon as it
// starts is not a ready worker: it ends in the crash-loop state, and
// recovers when the cause is gone.
func TestStartedCheckSeesACrashLoop(t *testing.T) {
	a := newTestApp(t, appSpec{mode: ModeNone, workers: 1, env: map[string]string{"PMT_NO_PORT": "1"},
		backoff: Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}}).start()
	crash := filepath.Join(a.release, "crash")
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(a.sup.Status().Workers[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.waitState(StateCrashLoop, 20*time.Second)
	if err := os.Remove(crash); err != nil {
		t.Fatal(err)
	}
	a.waitState(StateReady, 20*time.Second)
}
