package script

import (
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/testfs"
)

// TestGoMain: build auto's go_main finds a main package as go build
// does for the cases a repository's root holds: a generator with
// //go:build ignore (or // +build ignore) and a main_test.go are not
// the package; a real main, also after a constraint that does not name
// ignore, is (deploy init's hasMain reads them alike: TestDetect).
func TestGoMain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		main  bool
	}{
		{"main", map[string]string{"main.go": "package main\n"}, true},
		{"main after a comment", map[string]string{"lib.go": "package lib\n", "main.go": "// Command x.\npackage main // x\n"}, true},
		{"linux only", map[string]string{"main.go": "//go:build linux && !ignorex\n\npackage main\n"}, true},
		{"generator", map[string]string{"lib.go": "package lib\n", "gen.go": "// go run gen.go\n\n//go:build ignore\n\npackage main\n"}, false},
		{"old-style generator", map[string]string{"gen.go": "// +build ignore\n\npackage main\n"}, false},
		{"ignore among others", map[string]string{"gen.go": "//go:build tools || ignore\n\npackage main\n"}, false},
		{"test main", map[string]string{"lib.go": "package lib\n", "main_test.go": "package main\n"}, false},
		{"a package named mainly", map[string]string{"x.go": "package mainly\n"}, false},
		{"no go files", map[string]string{"README": "x\n"}, false},
		{"main in a comment after the clause", map[string]string{"x.go": "package lib\n\n// package main\n"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			testfs.WriteFiles(t, dir, tc.files)
			got := runFuncs(t, dir, `if go_main "$PWD"; then echo yes; else echo no; fi`)
			if want := map[bool]string{true: "yes\n", false: "no\n"}[tc.main]; got != want {
				t.Errorf("go_main: %q, want %q", got, want)
			}
		})
	}
}

// TestNodeWanted: .nvmrc or .node-version asking for another major
// version of node than the build's is said; the same major (a v prefix,
// a full version), an alias (lts/*) or no file says nothing.
func TestNodeWanted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		says  string
	}{
		{"other major", map[string]string{".nvmrc": "24.1.0\n"}, "node: .nvmrc asks for node 24, and the build runs node v20.20.2 on this server: the app may not run as it was tested (install node 24 on this server)\n"},
		{"node-version, v prefix", map[string]string{".node-version": " v18\n"}, "node: .node-version asks for node 18, and the build runs node v20.20.2"},
		{".nvmrc first", map[string]string{".nvmrc": "20\n", ".node-version": "18\n"}, ""},
		{"same major", map[string]string{".nvmrc": "v20.1.0"}, ""},
		{"alias", map[string]string{".nvmrc": "lts/*\n"}, ""},
		{"none", map[string]string{"package.json": "{}"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			testfs.WriteFiles(t, dir, tc.files)
			got := runFuncs(t, dir, `BUILD_REL=$PWD; node_wanted v20.20.2`)
			if (tc.says == "") != (got == "") || !strings.HasPrefix(got, tc.says) {
				t.Errorf("node_wanted: %q, want %q", got, tc.says)
			}
		})
	}
}
