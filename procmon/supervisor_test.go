package procmon

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// TestRunFailsBeforeStarting: an unusable listen address or a command that
// cannot start is an error from Run that names the key; nothing keeps running.
func TestRunFailsBeforeStarting(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name   string
		mutate func(a *testApp)
		want   string
	}{
		{"port in use", func(a *testApp) { a.listen = busy.Addr().String() }, `key "listen": cannot listen on ` + busy.Addr().String()},
		// A dir that does not exist is waited for (see TestDirAtStart);
		// one that cannot be resolved otherwise is an error.
		{"dir through a file", func(a *testApp) {
			os.WriteFile(a.root+"/file", nil, 0o644)
			os.Remove(a.root + "/current")
			os.Symlink(a.root+"/file/release", a.root+"/current")
		}, `key "dir": ROOT/current: not a directory`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, appSpec{workers: 1})
			tc.mutate(a)
			a.writeConfig(nil)
			cfg, err := ParseConfig(a.cfgPath, mustRead(t, a.cfgPath))
			if err != nil {
				t.Fatal(err)
			}
			sup, err := New(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = sup.Run(ctx)
			if want := strings.ReplaceAll(tc.want, "ROOT", a.root); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run: %v, want an error with %q", err, want)
			}
			if st := sup.Status(); st.State != StateStopped {
				t.Fatalf("state %s after a failed start", st.State)
			}
		})
	}
}

func TestRunCommandNotFound(t *testing.T) {
	a := newTestApp(t, appSpec{workers: 2})
	cfg, err := LoadConfig(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Command = []string{"./no-such-program"}
	sup, _ := New(cfg, Options{})
	err = sup.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "start worker 1") || !strings.Contains(hint.Of(err), "check command") {
		t.Fatalf("Run: %v", err)
	}
	if _, err := sup.Reload(t.Context()); err == nil {
		t.Fatal("Reload after Run returned must fail")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestStateNames(t *testing.T) {
	names := map[AppState]string{StateStarting: "starting", StateReady: "ready", StateReloading: "reloading",
		StateCrashLoop: "crash-loop", StateStopping: "stopping", StateStopped: "stopped", StateWaiting: "waiting"}
	for s, want := range names {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", s, s, want)
		}
	}
}
