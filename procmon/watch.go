package procmon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher turns changes of the restart file into reload triggers. It
// watches the file's directory (a touch is a chmod event, an editor's save
// or `mv` a create or rename), debounces bursts into one trigger, and
// follows symlinks on the path: when `current` is switched to a new
// release it watches the new release's directory, and triggers if the
// file there was touched around the switch. The file's directory need not
// exist at start (before the first deploy): the nearest existing
// directory above it is watched until it appears.
type watcher struct {
	file     string
	debounce time.Duration
	log      *slog.Logger
	fsw      *fsnotify.Watcher
	dir      string          // the resolved directory watched for the file
	links    map[string]bool // resolved parents of symlinks on the path, and ancestors watched for the path to appear
}

func newWatcher(file string, debounce time.Duration, log *slog.Logger) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch restart_file: %w", err)
	}
	w := &watcher{file: file, debounce: debounce, log: log, fsw: fsw, links: map[string]bool{}}
	w.resolve(time.Time{})
	return w, nil
}

// run delivers triggers until ctx ends.
func (w *watcher) run(ctx context.Context, trigger func()) {
	defer w.fsw.Close()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	rescan := time.NewTicker(2 * time.Second)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if w.hit(ev) {
				debounce.Reset(w.debounce)
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.log.Warn("restart file watch", "err", err)
		case <-rescan.C:
			if w.resolve(time.Now().Add(-3 * time.Second)) {
				debounce.Reset(w.debounce)
			}
		case <-debounce.C:
			trigger()
		}
	}
}

// hit says whether ev should trigger a reload, re-resolving the path when a
// symlink on it changed.
func (w *watcher) hit(ev fsnotify.Event) bool {
	if filepath.Dir(ev.Name) == w.dir && filepath.Base(ev.Name) == filepath.Base(w.file) {
		return !ev.Has(fsnotify.Remove)
	}
	if w.links[filepath.Dir(ev.Name)] {
		return w.resolve(time.Now().Add(-3 * time.Second))
	}
	return false
}

// resolve (re)computes the watched directories. When the file's directory
// changed it reports whether the file there was modified after since.
func (w *watcher) resolve(since time.Time) bool {
	dir, err := filepath.EvalSymlinks(filepath.Dir(w.file))
	for _, link := range symlinksOn(filepath.Dir(w.file)) {
		parent, perr := filepath.EvalSymlinks(filepath.Dir(link))
		if perr == nil && !w.links[parent] {
			if w.fsw.Add(parent) == nil {
				w.links[parent] = true
			}
		}
	}
	if err != nil {
		w.watchAncestor()
		return false
	}
	if dir == w.dir {
		return false
	}
	if err := w.fsw.Add(dir); err != nil {
		w.log.Warn("cannot watch the restart file's directory", "dir", dir, "err", err)
		return false
	}
	if w.dir != "" && !w.links[w.dir] {
		_ = w.fsw.Remove(w.dir)
	}
	w.dir = dir
	fi, err := os.Stat(filepath.Join(dir, filepath.Base(w.file)))
	return err == nil && !since.IsZero() && fi.ModTime().After(since)
}

// watchAncestor watches the nearest existing directory above the file's
// directory while that one does not exist (before the first deploy
// creates `current`): a change there re-resolves the path at once, not at
// the next rescan, so a restart file touched in the first release is seen.
func (w *watcher) watchAncestor() {
	for p := filepath.Dir(filepath.Dir(w.file)); p != filepath.Dir(p); p = filepath.Dir(p) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if !w.links[real] && w.fsw.Add(real) == nil {
			w.links[real] = true
		}
		return
	}
}

// symlinksOn lists the symlinks among the path's prefixes.
func symlinksOn(path string) []string {
	var links []string
	for p := path; p != filepath.Dir(p); p = filepath.Dir(p) {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			links = append(links, p)
		}
	}
	return links
}
