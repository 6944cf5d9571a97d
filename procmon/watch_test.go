package procmon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatcherEvents: a touch, a write, a creation and a rename over the
// file each trigger once (bursts debounced); removing it does not.
func TestWatcherEvents(t *testing.T) {
	cases := []struct {
		name string
		do   func(t *testing.T, file string)
		want bool
	}{
		{"touch", func(t *testing.T, f string) { now := time.Now(); must(t, os.Chtimes(f, now, now)) }, true},
		{"write", func(t *testing.T, f string) { must(t, os.WriteFile(f, []byte("x"), 0o644)) }, true},
		{"create", func(t *testing.T, f string) {
			must(t, os.Remove(f))
			time.Sleep(150 * time.Millisecond)
			must(t, os.WriteFile(f, nil, 0o644))
		}, true},
		{"rename over", func(t *testing.T, f string) {
			must(t, os.WriteFile(f+".new", nil, 0o644))
			must(t, os.Rename(f+".new", f))
		}, true},
		{"burst", func(t *testing.T, f string) {
			for range 5 {
				now := time.Now()
				must(t, os.Chtimes(f, now, now))
				time.Sleep(10 * time.Millisecond)
			}
		}, true},
		{"remove", func(t *testing.T, f string) { must(t, os.Remove(f)) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "restart.txt")
			must(t, os.WriteFile(file, nil, 0o644))
			w, err := newWatcher(file, 100*time.Millisecond, slog.New(slog.DiscardHandler))
			must(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			trig := make(chan struct{}, 10)
			go w.run(ctx, func() { trig <- struct{}{} })
			tc.do(t, file)
			got := 0
			timeout := time.After(700 * time.Millisecond)
		wait:
			for {
				select {
				case <-trig:
					got++
				case <-timeout:
					break wait
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.want]; got != want {
				t.Fatalf("%d triggers, want %d", got, want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWatcherFollowsDirCreatedLater: before the first deploy neither
// current nor its release exist; the deploy creates the release, switches
// current to it, then touches the restart file there. The watcher sees it
// at once (it watches the nearest existing directory), not only at its
// next rescan two seconds later.
func TestWatcherFollowsDirCreatedLater(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "current", "tmp", "restart.txt")
	w, err := newWatcher(file, 50*time.Millisecond, slog.New(slog.DiscardHandler))
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trig := make(chan struct{}, 10)
	go w.run(ctx, func() { trig <- struct{}{} })
	time.Sleep(100 * time.Millisecond)
	release := filepath.Join(root, "releases", "r1")
	must(t, os.MkdirAll(release, 0o755))
	must(t, os.Symlink(release, filepath.Join(root, "current")))
	time.Sleep(100 * time.Millisecond)
	must(t, os.Mkdir(filepath.Join(release, "tmp"), 0o755)) // deploy's mkdir -p of the file's directory
	time.Sleep(100 * time.Millisecond)
	must(t, os.WriteFile(file, nil, 0o644))
	select {
	case <-trig:
	case <-time.After(time.Second):
		t.Fatal("no trigger within 1s of the touch")
	}
}
