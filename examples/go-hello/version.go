package main

import (
	"os"
	"path/filepath"
	"strings"
)

// readVersion returns what "hello from" reports: a VERSION file, else the
// REVISION file deploy writes into each release, else $APP_VERSION, else
// "unknown".
func readVersion() string {
	dirs := []string{"."}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe), filepath.Dir(filepath.Dir(exe)))
	}
	for _, name := range []string{"VERSION", "REVISION"} {
		for _, dir := range dirs {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if v := strings.TrimSpace(string(b)); err == nil && v != "" {
				return v
			}
		}
	}
	if v := os.Getenv("APP_VERSION"); v != "" {
		return v
	}
	return "unknown"
}
