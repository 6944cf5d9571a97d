package procmon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// Sources of the worker count, as status shows them.
const (
	// ScaleFromConfig: the count is the config's workers.
	ScaleFromConfig = "config"
	// ScaleFromCommand: `procmon scale N` set the count.
	ScaleFromCommand = "scale"
	// ScaleFromAutoscale: the autoscaler set the count (workers = "MIN..MAX").
	ScaleFromAutoscale = "autoscale"
)

// scaleFile is what the state file keeps: the count set at runtime and
// the config's workers it was set against. A config whose workers differ
// from ConfigWorkers wins: the file is then ignored and removed.
type scaleFile struct {
	Workers       int       `json:"workers"`
	ConfigWorkers int       `json:"config_workers"`
	ConfigMax     int       `json:"config_max,omitempty"`
	Source        string    `json:"source"`
	At            time.Time `json:"at"`
}

// scaleFilePath is the state file next to the control socket
// ("<socket>.scale"); "" when there is no socket path (nothing persists).
func scaleFilePath(cfg *Config) string {
	if cfg.Socket == "" {
		return ""
	}
	return cfg.Socket + ".scale"
}

// loadScaleFile reads the state file; ok is false when there is none.
func loadScaleFile(path string) (f scaleFile, ok bool, err error) {
	if path == "" {
		return f, false, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, false, nil
	}
	if err != nil {
		return f, false, fmt.Errorf("read scale state: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Workers < 0 {
		return f, false, fmt.Errorf("scale state %s is unreadable; ignoring it", path)
	}
	return f, true, nil
}

// saveScaleFile writes the state file whole or not at all: a temp file,
// fsynced, renamed over the old one, and the directory fsynced.
func saveScaleFile(path string, f scaleFile) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, append(data, '\n')); err != nil {
		os.Remove(tmp)
		return hint.Wrap(fmt.Errorf("save scale state: %w", err), "procmon keeps the count in a file next to its control socket: that directory must be writable by procmon")
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save scale state: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// removeScaleFile forgets a runtime count: the config's value applies.
func removeScaleFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove scale state: %w", err)
	}
	return nil
}
