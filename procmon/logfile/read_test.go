package logfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	data := ""
	for _, l := range lines {
		data += l + "\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path+".1", "o1", "o2", "o3")
	writeFile(t, path, "n1", "n2")
	os.WriteFile(filepath.Join(dir, "bare.log"), []byte("a\nb\npartial"), 0o600)
	long := make([]string, 5000)
	for i := range long {
		long[i] = fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%100))
	}
	writeFile(t, filepath.Join(dir, "long.log"), long...)
	tests := []struct {
		file string
		n    int
		want []string
	}{
		{"app.log", 0, nil},
		{"app.log", 1, []string{"n2"}},
		{"app.log", 2, []string{"n1", "n2"}},
		{"app.log", 4, []string{"o2", "o3", "n1", "n2"}},
		{"app.log", 100, []string{"o1", "o2", "o3", "n1", "n2"}},
		{"bare.log", 5, []string{"a", "b"}}, // an unfinished last line is not shown
		{"long.log", 3, long[4997:]},
		{"long.log", 2000, long[3000:]},
	}
	for _, tt := range tests {
		got, err := Tail(filepath.Join(dir, tt.file), tt.n)
		if err != nil {
			t.Fatalf("Tail(%s, %d): %v", tt.file, tt.n, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Tail(%s, %d) = %d lines %.80q, want %d lines", tt.file, tt.n, len(got), got, len(tt.want))
		}
	}
	if _, err := Tail(filepath.Join(dir, "absent.log"), 3); err == nil {
		t.Error("Tail of a missing file succeeded")
	}
}

// TestFollowAcrossRotations follows a live Log through several rotations,
// waiting for the follower after each one, and checks it saw every line
// exactly once and in order.
func TestFollowAcrossRotations(t *testing.T) {
	l, path := open(t, Options{MaxSize: 4 << 10, QueueLines: 10000})
	l.Line(1, "w1", "before the follow")
	waitFor(t, func() bool { fi, err := os.Stat(path); return err == nil && fi.Size() > 0 })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10000)
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, path, ReadOptions{Lines: 1, Follow: true, Poll: 5 * time.Millisecond},
			func(line string) error { got <- line; return nil })
	}()
	expect := func(text string) {
		t.Helper()
		select {
		case line := <-got:
			if m := lineRE.FindStringSubmatch(line); m == nil || m[3] != text {
				t.Fatalf("follow got %q, want text %q", line, text)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("follow never delivered %q", text)
		}
	}
	expect("before the follow")
	s := l.Stream(1, "w1")
	seq := 0
	for phase := 0; phase < 5; phase++ {
		// About 1.5 files' worth: one or two rotations per phase (two
		// within one poll make a middle file, read from ".1")
		for i := 0; i < 40; i++ {
			fmt.Fprintf(s, "seq %d %s\n", seq, strings.Repeat("r", 100))
			seq++
		}
		for i := seq - 40; i < seq; i++ {
			expect(fmt.Sprintf("seq %d %s", i, strings.Repeat("r", 100)))
		}
	}
	if r := l.Stats().Rotations; r < 4 {
		t.Fatalf("only %d rotations happened; the test did not exercise rotation", r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Read returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not stop when its context ended")
	}
	select {
	case extra := <-got:
		t.Fatalf("unexpected extra line %q", extra)
	default:
	}
}

func TestReadWithoutFollowAndEmitError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a", "b", "c")
	var got []string
	err := Read(context.Background(), path, ReadOptions{Lines: 2}, func(l string) error { got = append(got, l); return nil })
	if err != nil || fmt.Sprint(got) != "[b c]" {
		t.Fatalf("Read = %v, %v", got, err)
	}
	stop := fmt.Errorf("reader went away")
	err = Read(context.Background(), path, ReadOptions{Lines: 3, Follow: true}, func(string) error { return stop })
	if err != stop {
		t.Fatalf("emit error not returned: %v", err)
	}
	if err := Read(context.Background(), path+".nope", ReadOptions{}, nil); err == nil || !strings.Contains(err.Error(), "log.file") {
		t.Fatalf("missing file: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
