package sdnotify

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func receive(t *testing.T, l *Listener) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := l.Receive(ctx)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return m
}

func TestMessagesArriveInOrder(t *testing.T) {
	for _, name := range []string{"path", "abstract"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "notify.sock")
			if name == "abstract" {
				path = "@procmon-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			}
			l, err := Listen(path)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			n := FromEnv(func(k string) string {
				if k == "NOTIFY_SOCKET" {
					return l.Path()
				}
				return ""
			})
			steps := []func() error{
				n.Ready, n.Reloading, func() error { return n.Status("gen 2\nserving") }, n.Ready, n.Watchdog, n.Stopping,
			}
			for _, s := range steps {
				if err := s(); err != nil {
					t.Fatal(err)
				}
			}
			want := [][]string{{"READY"}, {"RELOADING", "MONOTONIC_USEC"}, {"STATUS"}, {"READY"}, {"WATCHDOG"}, {"STOPPING"}}
			before, _ := MonotonicUsec()
			for i, keys := range want {
				m := receive(t, l)
				if !reflect.DeepEqual(m.Keys, keys) {
					t.Fatalf("message %d: keys %v, want %v", i, m.Keys, keys)
				}
				if m.PID != os.Getpid() {
					t.Errorf("message %d: sender pid %d, want %d", i, m.PID, os.Getpid())
				}
				if usec, ok := m.Get("MONOTONIC_USEC"); ok {
					v, err := strconv.ParseUint(usec, 10, 64)
					if err != nil || v == 0 || v > before {
						t.Errorf("MONOTONIC_USEC=%q, want a monotonic time not after %d", usec, before)
					}
				}
				if s, ok := m.Get("STATUS"); ok && s != "gen 2 serving" {
					t.Errorf("STATUS=%q, want newlines flattened", s)
				}
			}
		})
	}
}

func TestDisabledNotifierIsNoop(t *testing.T) {
	n := FromEnv(func(string) string { return "" })
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	for _, f := range []func() error{n.Ready, n.Reloading, n.Stopping, n.Watchdog} {
		if err := f(); err != nil {
			t.Fatalf("no-op notifier returned %v", err)
		}
	}
}

func TestSendToMissingSocketFails(t *testing.T) {
	n := NewNotifier(filepath.Join(t.TempDir(), "absent.sock"))
	if err := n.Ready(); err == nil {
		t.Fatal("sending to a missing socket succeeded")
	}
}

func TestReceiveHonoursContext(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "n.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Receive(ctx); err != context.DeadlineExceeded {
		t.Fatalf("receive after deadline: %v, want deadline exceeded", err)
	}
	// The listener stays usable after a cancelled wait.
	if err := NewNotifier(l.Path()).Ready(); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, l); m.Fields["READY"] != "1" {
		t.Fatalf("got %v", m.Fields)
	}
}

func TestListenReplacesStaleSocketNotFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	l.conn.Close() // as after a crash: the socket file stays behind
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("Close left the socket file behind: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("x"), 0o600)
	if _, err := Listen(plain); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		in   string
		keys []string
	}{
		{"READY=1", []string{"READY"}},
		{"READY=1\nSTATUS=a=b\n", []string{"READY", "STATUS"}},
		{"garbage\n=x\nREADY=1", []string{"READY"}},
		{"", nil},
	}
	for _, tt := range tests {
		m := ParseMessage([]byte(tt.in))
		if !reflect.DeepEqual(m.Keys, tt.keys) {
			t.Errorf("ParseMessage(%q) keys = %v, want %v", tt.in, m.Keys, tt.keys)
		}
	}
	if v := ParseMessage([]byte("STATUS=a=b")).Fields["STATUS"]; v != "a=b" {
		t.Errorf("value with '=': %q", v)
	}
}

func TestWatchdogFromEnv(t *testing.T) {
	n := NewNotifier("@x")
	tests := []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 15 * time.Second, false},
		{"30000000", "42", 15 * time.Second, false},
		{"30000000", "43", 0, false},
		{"abc", "", 0, true},
		{"0", "", 0, true},
		{"1000", "x", 0, true},
	}
	for _, tt := range tests {
		env := map[string]string{"WATCHDOG_USEC": tt.usec, "WATCHDOG_PID": tt.pid}
		w, err := WatchdogFromEnv(n, func(k string) string { return env[k] }, 42)
		if (err != nil) != tt.err {
			t.Errorf("usec=%q pid=%q: err=%v", tt.usec, tt.pid, err)
			continue
		}
		if err == nil && w.Interval() != tt.want {
			t.Errorf("usec=%q pid=%q: interval %v, want %v", tt.usec, tt.pid, w.Interval(), tt.want)
		}
	}
}

func TestWatchdogPings(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "n.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w := NewWatchdog(NewNotifier(l.Path()), 2*time.Second)
	if w.Interval() != time.Second {
		t.Fatalf("interval %v", w.Interval())
	}
	if err := w.Ping(); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, l); m.Fields["WATCHDOG"] != "1" {
		t.Fatalf("got %v", m.Fields)
	}
	if NewWatchdog(NewNotifier(""), time.Second).Enabled() {
		t.Fatal("watchdog enabled without a notify socket")
	}
}
