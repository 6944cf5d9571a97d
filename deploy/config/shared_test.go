package config

import (
	"reflect"
	"testing"
)

// A `shared` entry named like a file is a shared file (created empty when
// missing, never as a directory); `shared-files` makes any name one; a
// trailing '/' or any other name is a directory.
func TestSharedFiles(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		lines       string
		shared      []string
		sharedFiles []string
	}{
		{"shared .env log tmp/pids", []string{".env", "log", "tmp/pids"}, []string{".env"}},
		{"shared config/database.yml config/app.JSON .env.production", []string{"config/database.yml", "config/app.JSON", ".env.production"},
			[]string{"config/database.yml", "config/app.JSON", ".env.production"}},
		{"shared .bundle node_modules public/uploads/", []string{".bundle", "node_modules", "public/uploads"}, nil},
		{"shared log\nshared-files secrets config/master", []string{"log", "secrets", "config/master"}, []string{"secrets", "config/master"}},
		{"shared conf.d/", []string{"conf.d"}, nil},
	} {
		cfg, err := ParseINI("deploy.conf", []byte("[prod]\nhost h\nrepo r\npath /p\n"+tt.lines+"\n"))
		if err != nil {
			t.Fatalf("%q: %v", tt.lines, err)
		}
		e := cfg.Envs["prod"]
		if !reflect.DeepEqual(e.Shared, tt.shared) || !reflect.DeepEqual(e.SharedFiles, tt.sharedFiles) {
			t.Errorf("%q: shared %q files %q, want %q and %q", tt.lines, e.Shared, e.SharedFiles, tt.shared, tt.sharedFiles)
		}
	}
}

// A path given under both shared and shared-files is an error naming the
// line, as any repeated path is.
func TestSharedFilesRepeat(t *testing.T) {
	t.Parallel()
	_, err := ParseINI("deploy.conf", []byte("[prod]\nhost h\nrepo r\npath /p\nshared .env\nshared-files .env\n"))
	if err == nil {
		t.Fatal("a path in shared and shared-files was accepted")
	}
}
