package deploy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExec(t *testing.T) {
	_, s, first := deployed(t)
	s.env.Vars = map[string]string{"GREETING": "hi there"}
	var out bytes.Buffer
	opts := Options{Stdout: &out, Stdin: strings.NewReader("from stdin\n"), Who: "t@l"}
	err := Exec(ctxFor(t), s.conn, s.env, []string{`echo "$GREETING $DEPLOY_ENV"; basename "$PWD"; cat REVISION; cat`}, opts)
	if err != nil {
		t.Fatal(err)
	}
	// $PWD is the logical path: <path>/current.
	want := "hi there production\ncurrent\n" + first.NewSHA + "\nfrom stdin\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	// Several words run as argv: no shell parsing of them.
	out.Reset()
	opts.Stdin = nil
	if err := Exec(ctxFor(t), s.conn, s.env, []string{"printf", "%s|", "a b", "$HOME", "`x`"}, opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a b|$HOME|`x`|" {
		t.Errorf("argv output = %q", out.String())
	}
	// Stderr stays apart when asked.
	var errs bytes.Buffer
	out.Reset()
	split := Options{Stdout: &out, Stderr: &errs, Who: "t@l"}
	if err := Exec(ctxFor(t), s.conn, s.env, []string{"echo out; echo err >&2"}, split); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errs.String() != "err\n" {
		t.Errorf("stdout %q, stderr %q", out.String(), errs.String())
	}
	// The exit status comes back.
	err = Exec(ctxFor(t), s.conn, s.env, []string{"exit 7"}, opts)
	var st interface{ ExitStatus() int }
	if !errors.As(err, &st) || st.ExitStatus() != 7 {
		t.Errorf("exit 7: err = %v", err)
	}
}

func TestExecBeforeDeploy(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.setup()
	err := Exec(ctxFor(t), s.conn, s.env, []string{"true"}, s.opts())
	if err == nil || !strings.Contains(err.Error(), "nothing is deployed yet") {
		t.Fatalf("err = %v", err)
	}
	if err := Exec(ctxFor(t), s.conn, s.env, nil, s.opts()); err == nil || !strings.Contains(err.Error(), "no command given") {
		t.Fatalf("no argv: %v", err)
	}
}

// TestConsoleCommand runs the console's command line with commands on
// stdin instead of a terminal: a login shell in current with the hook
// environment, values never run.
func TestConsoleCommand(t *testing.T) {
	_, s, _ := deployed(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	s.env.Vars = map[string]string{"TRICKY": "$(touch " + marker + ")'"}
	line, err := consoleCommand(s.env, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = s.conn.Run(ctxFor(t), line, strings.NewReader(`echo "$DEPLOY_ENV|$TRICKY|$(basename "$PWD")|$0"`+"\n"), &out, &out)
	if err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if want := "production|" + s.env.Vars["TRICKY"] + "|current|bash\n"; out.String() != want {
		t.Errorf("console said %q, want %q", out.String(), want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a value ran")
	}
}
