package procmon

import (
	"syscall"
	"testing"
	"time"
)

// Shutdown while every worker of the current generation is dead (waiting
// out its crash backoff) returns at once: there is nothing to stop, and no
// exit event will ever come for that generation.
func TestShutdownDuringCrashBackoff(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 1, backoff: Backoff{Initial: 2 * time.Second}})
	a.start()
	a.writeConfig(map[string]string{"PMT_CRASH_AT_BOOT": "1"})
	if err := syscall.Kill(a.sup.Status().Workers[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(10*time.Second, "the worker exited and waits out its backoff", func(st Status) bool {
		return len(st.Workers) == 1 && st.Workers[0].State == WorkerExited
	})
	a.cancel()
	a.cancel = nil
	select {
	case <-a.done:
	case <-time.After(8 * time.Second):
		a.sup.Force()
		t.Fatalf("Run did not return 8 s after shutdown with no worker alive; state %v", a.sup.Status().State)
	}
}
