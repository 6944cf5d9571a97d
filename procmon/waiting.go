package procmon

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// Before the first deploy the config's dir (typically a `current`
// symlink that the first deploy creates) does not exist. procmon starts
// anyway and waits: the listener, the control socket, the watcher and the
// heartbeat are up, no worker runs, the public port answers 503, and the
// first reload that finds dir starts generation 1. See StateWaiting.

// dirMissingError says that the config's dir does not exist: not a
// failure at start (procmon waits for the first deploy), the reason of a
// reload that finds no dir.
type dirMissingError struct {
	dir     string
	missing string // the path the lookup stopped at: dir, an ancestor, or a symlink's target
	served  bool   // a generation serves: dir went away after the first deploy
	err     error
}

func (e *dirMissingError) Error() string {
	state, fix := "does not exist yet", "deploy first"
	if e.served {
		state, fix = "does not exist", "deploy, or point it at a release"
	}
	msg := fmt.Sprintf("dir %s %s", e.dir, state)
	if e.missing != "" && e.missing != e.dir {
		msg += fmt.Sprintf(" (%s is missing)", e.missing)
	}
	return msg + ": " + fix
}

func (e *dirMissingError) Unwrap() error { return e.err }

// resolveDir resolves the config's dir for a new generation. A dir that
// does not exist (no `current` yet, or one pointing nowhere) is a
// *dirMissingError; served says whether a generation serves already.
func resolveDir(dir string, served bool) (string, error) {
	real, err := filepath.EvalSymlinks(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		missing := ""
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			missing = pe.Path
		}
		return "", &dirMissingError{dir: dir, missing: missing, served: served, err: err}
	case err != nil:
		if _, ok := errors.AsType[*fs.PathError](err); !ok {
			err = fmt.Errorf("%s: %w", dir, err) // EvalSymlinks may return a bare errno
		}
		return "", fmt.Errorf("key \"dir\": %w", err)
	}
	return real, nil
}

// startFirst starts generation 1, or, when dir does not exist yet, makes
// procmon wait for the first deploy. Any other error ends Run.
func (s *Supervisor) startFirst() error {
	g, err := s.startGeneration(s.cfg)
	if missing, ok := errors.AsType[*dirMissingError](err); ok {
		s.enterWaiting(missing)
		return nil
	}
	if err != nil {
		return err
	}
	s.cur = g
	s.hbGuard.lastStart = time.Now()
	if len(g.slots) == 0 { // workers = "0..N" scaled to zero: idle until a request
		s.everReady = true
		s.emit(EventReady, g.num, "idle")
	}
	return nil
}

// enterWaiting is Run's start without dir: nothing runs until a reload.
func (s *Supervisor) enterWaiting(err *dirMissingError) {
	s.waiting = true
	s.hbGuard.lastStart = time.Now()
	how := "procmon reload or SIGHUP"
	if s.cfg.RestartFile != "" {
		how = "procmon reload, the restart file or SIGHUP"
	}
	s.log.Info("dir does not exist yet: waiting for the first deploy; a reload ("+how+") starts the workers",
		"dir", s.cfg.Dir, "missing", err.missing)
	s.answerUnavailable()
	s.emit(EventWaiting, 0, "waiting for the first deploy: "+err.Error())
}
