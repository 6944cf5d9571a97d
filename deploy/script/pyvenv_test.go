package script

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/testfs"
)

// runFuncs runs bash with build.sh and depcache.sh's functions (and
// stubs of lib.sh's fail and release.sh's in_list, and lib.sh's own
// physical) then code, in dir, and returns its output.
func runFuncs(t *testing.T, dir, code string) string {
	t.Helper()
	out, err := bashFuncs(dir, code)
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return out
}

// bashFuncs is runFuncs for code that may fail (fail's stub exits 1):
// its output and bash's error.
func bashFuncs(dir, code string) (string, error) {
	stubs := `fail() { echo "fail: $*"; exit 1; }
in_list() { local w=$1 x; shift; for x in "$@"; do [ "$x" = "$w" ] && return 0; done; return 1; }
set -euo pipefail
`
	physical := libScript[strings.Index(libScript, "\nphysical() {"):]
	physical = physical[:strings.Index(physical, "\n}\n")+3]
	cmd := exec.Command("bash", "-c", stubs+physical+buildScript+"\n"+depcacheScript+"\n"+code)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBuildPythonReqs: the requirements whose text pins the install are
// cached, with the files they include (-r/-c, relative to the including
// file) in the key; an editable, a local path or file: URL, or a URL's
// requirements file is not.
func TestBuildPythonReqs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, req, unkeyed, includes string
	}{
		{"pins", "flask==3.0.0  # web\n# a comment\n\n--hash=sha256:00 \\\nrequests>=2 ; python_version >= \"3.8\"\npkg @ https://example.com/pkg-1.0.whl\n--index-url https://pypi.example/simple", "", ""},
		{"includes", "-r reqs/base.txt\n--constraint=constraints.txt\n-rreqs/base.txt\n", "", "reqs/base.txt constraints.txt reqs/more.txt"},
		{"editable", "flask\n-e .\n", "-e .", ""},
		{"local path", "./vendor/pkg-1.0.tar.gz\n", "./vendor/pkg-1.0.tar.gz", ""},
		{"relative path", "vendor/pkg\n", "vendor/pkg", ""},
		{"local wheel", "pkg-1.0-py3-none-any.whl\n", "pkg-1.0-py3-none-any.whl", ""},
		{"file url", "pkg @ file:///srv/pkg\n", "pkg @ file:///srv/pkg", ""},
		{"find-links dir", "-f ./wheels\npkg==1\n", "-f ./wheels", ""},
		{"remote include", "-r https://example.com/reqs.txt\n", "-r https://example.com/reqs.txt", ""},
		{"editable in an include", "-r reqs/dev.txt\n", "-e ../lib", "reqs/dev.txt"},
		{"no newline at the end", "flask\n-e .", "-e .", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			testfs.WriteFiles(t, dir, map[string]string{
				"requirements.txt": tc.req,
				"reqs/base.txt":    "django==5.0\n-r more.txt\n",
				"reqs/more.txt":    "-r base.txt\ncelery==5\n",
				"reqs/dev.txt":     "-e ../lib\n",
				"constraints.txt":  "urllib3<2\n",
			})
			out := runFuncs(t, dir, `python_reqs "$PWD/requirements.txt"
printf 'unkeyed=%s\n' "$PY_UNKEYED"
printf 'includes=%s\n' "${PY_INCLUDES[*]#$PWD/}"`)
			want := "unkeyed=" + tc.unkeyed + "\nincludes=" + tc.includes + "\n"
			if out != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}

// TestCacheRelocatePython: a venv made at one path and hard-linked to
// another gets that path in its scripts, activate and pyvenv.cfg (both
// shebang forms pip writes), symlinks resolved, as new files: the linked originals, the
// cache's, keep theirs; binaries and symlinks are left alone.
func TestCacheRelocatePython(t *testing.T) {
	t.Parallel()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	from := filepath.Join(root, "releases", "a", ".venv")
	to := filepath.Join(root, "releases", "b", ".venv")
	files := map[string]string{
		"bin/tool":      "#!" + from + "/bin/python3\nimport sys\n",
		"bin/long":      "#!/bin/sh\n'''exec' \"" + from + "/bin/python3\" \"$0\" \"$@\"\n' '''\nimport sys\n",
		"bin/activate":  "VIRTUAL_ENV=\"" + from + "\"\nexport VIRTUAL_ENV\n",
		"bin/blob":      "\x00\x01" + from + "\x00",
		"pyvenv.cfg":    "home = /usr/bin\ncommand = /usr/bin/python3 -m venv " + from + "\n",
		"lib/python3/x": from + "\n",
	}
	modes := map[string]os.FileMode{"bin/tool": 0o555, "bin/long": 0o555, "bin/blob": 0o555}
	for name, text := range files {
		p := filepath.Join(from, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := modes[name]
		if mode == 0 {
			mode = 0o444
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/usr/bin/python3", filepath.Join(from, "bin", "python3")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-al", filepath.Dir(from), filepath.Dir(to)).CombinedOutput(); err != nil {
		t.Fatalf("cp -al: %v\n%s", err, out)
	}
	// Through a symlink (current/.venv, a symlinked path): python -m venv
	// writes the physical path, and so does the relocation.
	if err := os.Symlink(filepath.Join("releases", "b"), filepath.Join(root, "cur")); err != nil {
		t.Fatal(err)
	}
	runFuncs(t, root, "deps_relocate_python "+shellQuote(from)+" "+shellQuote(filepath.Join(root, "cur", ".venv")))
	for name, text := range files {
		got, err := os.ReadFile(filepath.Join(to, name))
		if err != nil {
			t.Fatal(err)
		}
		want := text
		if strings.HasPrefix(name, "bin/") && name != "bin/blob" || name == "pyvenv.cfg" {
			want = strings.ReplaceAll(text, from, to)
		}
		if string(got) != want {
			t.Errorf("%s in the new venv: %q, want %q", name, got, want)
		}
		if old, _ := os.ReadFile(filepath.Join(from, name)); string(old) != text {
			t.Errorf("%s in the old venv changed: %q", name, old)
		}
	}
	for _, name := range []string{"bin/tool", "bin/long"} {
		if fi, err := os.Stat(filepath.Join(to, name)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable after relocation: %v %v", name, fi.Mode(), err)
		}
	}
	if l, err := os.Readlink(filepath.Join(to, "bin", "python3")); err != nil || l != "/usr/bin/python3" {
		t.Errorf("bin/python3 links to %q, %v", l, err)
	}
}

// shellQuote quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
