package deploy

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
)

// path ~/app reaches the login shell as "$HOME" and a quoted rest: the
// shell expands the home, and nothing of the value is shell text.
func TestHomePathWords(t *testing.T) {
	env := &config.Env{Name: "production", Path: "~/my app $(x)", Hosts: []config.Host{{Name: "h"}}}
	line, err := LogCommand(env, LogOptions{File: "log/a.log"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `tail -n 100 -- "$HOME"'/my app $(x)/current/log/a.log'`; line != want {
		t.Errorf("logs: %s\nwant %s", line, want)
	}
	console, err := consoleCommand(env, Options{Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`cd -- "$HOME"'/my app $(x)/current' && exec env 'SHARED='"$HOME"'/my app $(x)/shared'`, `'DEPLOY_PATH='"$HOME"'/my app $(x)'`} {
		if !strings.Contains(console, want) {
			t.Errorf("console %s\nlacks %s", console, want)
		}
	}
	// what a POSIX shell makes of such words
	out, err := exec.Command("sh", "-c", "HOME=/home/u; printf '%s\\n' "+serverPathWord("P=", "~/a b")+" "+serverPathWord("", "~")).Output()
	if err != nil || string(out) != "P=/home/u/a b\n/home/u\n" {
		t.Errorf("sh reads %q, %v", out, err)
	}
}
