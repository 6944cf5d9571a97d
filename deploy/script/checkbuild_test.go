package script

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/testfs"
)

// funcText is the text of shell function name in src: from its
// "name() {" line to the "}" that closes it at the start of a line, or
// its one line when it fits on one.
func funcText(t *testing.T, src, name string) string {
	t.Helper()
	i := strings.Index(src, "\n"+name+"() {")
	if i < 0 {
		t.Fatalf("no function %s", name)
	}
	rest := src[i+1:]
	if line := rest[:strings.Index(rest, "\n")]; strings.HasSuffix(line, "}") {
		return line + "\n"
	}
	return rest[:strings.Index(rest, "\n}\n")+3]
}

// TestCheckBuildTools: with build auto, deploy check names the tools of
// the stacks the next deploy builds, read as build auto reads them (the
// ref in the mirror, else current), found or not in the hook shell's
// PATH: a server without yarn fails that deploy at its build, and check
// says so first.
func TestCheckBuildTools(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	must(t, os.MkdirAll(bin, 0o755))
	for _, tool := range []string{"bash", "git", "ls"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		must(t, os.Symlink(p, filepath.Join(bin, tool)))
	}
	testfs.WriteFiles(t, bin, map[string]string{"node": "#!/bin/sh\n", "go": "#!/bin/sh\n"})
	for _, f := range []string{"node", "go"} {
		must(t, os.Chmod(filepath.Join(bin, f), 0o755))
	}
	code := funcText(t, commandsScript, "check_build") + funcText(t, commandsScript, "check_has") + funcText(t, commandsScript, "in_hook_path") + `
mark() { echo "$*"; }
git_() { git --git-dir="$P/repo" "$@"; }
P=$PWD BUILD=auto SHELL_MODE='' REF=${REF:-} PATH=$PWD/bin
check_build
`
	run := func(ref string) string {
		t.Helper()
		return runFuncs(t, dir, "REF="+ref+"\n"+code)
	}
	if out := run(""); !strings.Contains(out, "check build ok auto: nothing fetched yet") {
		t.Errorf("nothing fetched, no current:\n%s", out)
	}
	testfs.WriteFiles(t, filepath.Join(dir, "releases", "r1"), map[string]string{
		"package.json": "{}\n", "yarn.lock": "\n", "go.mod": "module x\n",
	})
	must(t, os.Symlink("releases/r1", filepath.Join(dir, "current")))
	out := run("")
	for _, want := range []string{
		"check build:node ok " + bin + "/node (node, detected in current)",
		"check build:yarn fail 'yarn' is not in the hook shell's PATH (shell=bash), and build auto needs it for node (detected in current): install it on this server, or set shell login",
		"check build:go ok " + bin + "/go (go, detected in current)",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("current with node (yarn) and go: want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "build:npm") {
		t.Errorf("yarn.lock means yarn, not npm:\n%s", out)
	}

	// what ships wins over current: the ref as the mirror last fetched it
	src := filepath.Join(dir, "src")
	testfs.WriteFiles(t, src, map[string]string{"mix.exs": "x\n", "Gemfile": "x\n"})
	for _, args := range [][]string{{"init", "-q", "-b", "main", src}, {"-C", src, "add", "-A"},
		{"-C", src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x"},
		{"clone", "-q", "--bare", src, filepath.Join(dir, "repo")}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out = run("main")
	for _, want := range []string{
		"check build:bundle fail 'bundle' is not in the hook shell's PATH (shell=bash), and build auto needs it for ruby (detected in main as the mirror last fetched it)",
		"check build:mix fail 'mix' is not in the hook shell's PATH (shell=bash), and build auto needs it for elixir (detected in main as the mirror last fetched it)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the mirror's main with ruby and elixir: want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "node") {
		t.Errorf("current's stacks were checked, not what ships:\n%s", out)
	}
	if out := run("nope"); !strings.Contains(out, "detected in current") {
		t.Errorf("a ref the mirror lacks falls back to current:\n%s", out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
