package script

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/testfs"
)

// runFed runs line through bash as sshd would, with home as HOME, stdin
// and stderr through a Feed of text and control, and returns its stdout,
// its stderr (as the Feed passes it on) and the Feed.
func runFed(t *testing.T, home, line, text string, control io.Reader) (string, string, *Feed) {
	t.Helper()
	feed := NewFeedFor(text, control)
	cmd := exec.Command("bash", "-c", line)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = feed.Stdin(), &out, feed.Stderr(&errOut)
	err := cmd.Run()
	feed.Done()
	if err != nil {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), feed
}

// copyOf is where the bootstrap looks for text's copy under home.
func copyOf(home, text string) string {
	return filepath.Join(home, ".cache", "deploy-remote", Hash(text))
}

// waitFor polls ok for up to 10 s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no %s after 10 s", what)
		}
	}
}

// TestScriptTravelsOnce runs the real script (its `list` command, on an
// empty app path) twice with one home, as two commands of a deploy: the
// first gets the script on stdin and keeps a copy (exactly the text, in
// a directory only the user can enter); the second reads the copy, and
// the laptop sends it nothing but the control channel. Both give the same
// output.
func TestScriptTravelsOnce(t *testing.T) {
	t.Parallel()
	home, app := t.TempDir(), t.TempDir()
	line, err := Command("", "list", Arg("path", app))
	if err != nil {
		t.Fatal(err)
	}
	out1, err1, feed1 := runFed(t, home, line, Script(), nil)
	if !feed1.Sent() {
		t.Fatal("first command: the script was not sent")
	}
	copyFile := copyOf(home, Script())
	waitFor(t, "copy of the script", func() bool { _, err := os.Stat(copyFile); return err == nil })
	got, err := os.ReadFile(copyFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Script()+"\n"+EndMark {
		t.Fatalf("the copy is not the script: %d bytes, want %d", len(got), len(Script()+"\n"+EndMark))
	}
	st, err := os.Stat(filepath.Dir(copyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("the copies' directory has mode %v, want 0700", st.Mode().Perm())
	}
	out2, err2, feed2 := runFed(t, home, line, Script(), nil)
	if feed2.Sent() {
		t.Fatal("second command: the script was sent although the server has its copy")
	}
	if out1 != out2 || err1 != err2 {
		t.Errorf("outputs differ:\nsent:   %q %q\ncopied: %q %q", out1, err1, out2, err2)
	}
	if strings.Contains(err1+err2, "@@deploy-script") {
		t.Errorf("the bootstrap's line reached stderr: %q %q", err1, err2)
	}
}

// TestCopyIsControlFromFirstByte: with a copy on the server, stdin is the
// control channel from its first byte (no framed script before it).
func TestCopyIsControlFromFirstByte(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	text := `IFS= read -r l; printf 'got:%s|%s' "$l" "$*"`
	placeCopy(t, home, text, text+"\n"+EndMark)
	line, err := CommandFor(text, "", "x", "a b")
	if err != nil {
		t.Fatal(err)
	}
	out, _, feed := runFed(t, home, line, text, strings.NewReader("switch\n"))
	if feed.Sent() || out != "got:switch|x a b" {
		t.Fatalf("sent %v, out %q; want the copy run with the control line", feed.Sent(), out)
	}
}

// placeCopy writes content as text's copy under home, as save_script
// would (directory 0700).
func placeCopy(t *testing.T, home, text, content string) string {
	t.Helper()
	f := copyOf(home, text)
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCopyNotTrusted: a copy cut short (no EndMark) or in a directory
// another user owns is not run: the script is asked for and the text
// sent runs.
func TestCopyNotTrusted(t *testing.T) {
	t.Parallel()
	text := `printf 'sent text'`
	line, err := CommandFor(text, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("cut short", func(t *testing.T) {
		home := t.TempDir()
		placeCopy(t, home, text, "printf 'old copy'\n")
		out, _, feed := runFed(t, home, line, text, nil)
		if !feed.Sent() || out != "sent text" {
			t.Fatalf("sent %v, out %q; want the sent text run", feed.Sent(), out)
		}
	})
	t.Run("another user's directory", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the directory to another user") // make test runs as root (.ci/run)
		}
		home := t.TempDir()
		f := placeCopy(t, home, text, "printf 'planted'\n"+EndMark)
		if err := os.Chown(filepath.Dir(f), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		out, _, feed := runFed(t, home, line, text, nil)
		if !feed.Sent() || out != "sent text" {
			t.Fatalf("sent %v, out %q; want the sent text run, not the planted copy", feed.Sent(), out)
		}
	})
}

// TestNoCopyUnderAnotherHash: the real script sent under the hash of
// another text (what a laptop with a different script would name) is run
// but never kept under that name: save_script checks the sha256.
func TestNoCopyUnderAnotherHash(t *testing.T) {
	t.Parallel()
	home, app := t.TempDir(), t.TempDir()
	other := Script() + "\n# another version"
	line, err := CommandFor(other, "", "list", Arg("path", app))
	if err != nil {
		t.Fatal(err)
	}
	// the Feed sends the real script where the line names other's copy
	feed := newFeed(Frame(Script()), nil)
	cmd := exec.Command("bash", "-c", line)
	mark := "FEED_TEST_MARK=" + filepath.Base(home)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), mark}
	cmd.Stdin, cmd.Stderr = feed.Stdin(), feed.Stderr(io.Discard)
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	feed.Done()
	// the save runs in the background, after the command: wait until no
	// process of the command's is left
	waitFor(t, "end of the save", func() bool { return !processWith(mark) })
	dir := filepath.Dir(copyOf(home, other))
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the save did not run: %v", err)
	}
	if len(ents) != 0 {
		t.Fatalf("kept %s: a text under another's hash", ents[0].Name())
	}
}

// processWith reports whether a running process has kv in its
// environment.
func processWith(kv string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, e := range bytes.Split(b, []byte{0}) {
			if string(e) == kv {
				return true
			}
		}
	}
	return false
}

// TestFeedStderr: the bootstrap's line is taken out of stderr wherever
// it falls (after a partial line of an rc file's, split across writes),
// everything else passes unchanged, and what was held back comes out at
// Done.
func TestFeedStderr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		writes []string
		send   bool
		want   string
	}{
		{"alone", []string{AskSend + "\n", "later\n"}, true, "later\n"},
		{"after rc lines", []string{"rc says\nmore", " rc\n" + AskCached + "\nlater"}, false, "rc says\nmore rc\nlater"},
		{"split", []string{"partial", AskCached[:5], AskCached[5:] + "\n", "x"}, false, "partialx"},
		{"byte by byte", strings.Split("a\n"+AskSend+"\nb", ""), true, "a\nb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feed := NewFeedFor("x", nil)
			var got bytes.Buffer
			w := feed.Stderr(&got)
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			feed.Done()
			if got.String() != tc.want || feed.Sent() != tc.send {
				t.Errorf("stderr %q, sent %v; want %q, %v", got.String(), feed.Sent(), tc.want, tc.send)
			}
		})
	}
	t.Run("no line", func(t *testing.T) {
		feed := NewFeedFor("x", strings.NewReader("control"))
		var got bytes.Buffer
		_, _ = feed.Stderr(&got).Write([]byte("bash: not found"))
		feed.Done()
		b, err := io.ReadAll(feed.Stdin())
		if len(b) != 0 || err != nil || got.String() != "bash: not found" || feed.Sent() {
			t.Errorf("stdin %q %v, stderr %q, sent %v; want nothing read, the stderr whole", b, err, got.String(), feed.Sent())
		}
	})
}

// TestRcReadingStdinEndsInTime: a login shell whose ~/.bashrc reads
// stdin would wait for ever for the bytes the Feed holds back until the
// bootstrap's line. After the Feed's ask wait stdin ends: the rc file
// goes on, the bootstrap finds no script (exit 97), and the error says
// what most likely held it back.
func TestRcReadingStdinEndsInTime(t *testing.T) {
	t.Parallel()
	text := `printf ran`
	line, err := CommandFor(text, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	home := testfs.HomeWithoutCache(t)
	testfs.WriteFiles(t, home, map[string]string{".bashrc": "read -r answer\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	feed := NewFeedFor(text, nil)
	feed.SetAskWait(300 * time.Millisecond)
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	// as sshd runs it: Debian's bash reads ~/.bashrc for an SSH command
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "SSH_CLIENT=127.0.0.1 50000 22"}
	// a Feed that never ends stdin must fail the test, not hang exec's
	// Wait on its copy: runPiped gives stdin through a pipe
	out, _, err := runPiped(t, cmd, feed)
	if ctx.Err() != nil {
		t.Fatal("the command still waited after 30 s: the Feed never ended stdin")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 97 || out.String() != "" || !feed.TimedOut() {
		t.Fatalf("err %v, stdout %q, timed out %v; want exit 97, nothing run, timed out", err, out.String(), feed.TimedOut())
	}
	if msg := feed.Explain(err, "").Error(); !strings.Contains(msg, "~/.bashrc read stdin") {
		t.Errorf("error %q does not say what held the script back", msg)
	}
}

// TestLoginShellsThatRunNoScript runs a real command line through each
// login shell a server's account may have, as sshd does (`<shell> -c
// <line>`), and asks the Feed what became of it. POSIX shells (bash,
// dash, ksh, zsh) start the bootstrap; the others never do, and the error
// says which and why: fish (which exits 0 after its syntax error: no
// error at all before), tcsh, nologin and false (what `adduser --system`
// gives), and a dash with no bash on its PATH.
func TestLoginShellsThatRunNoScript(t *testing.T) {
	t.Parallel()
	text := `printf ran`
	line, err := CommandFor(text, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	noBash := t.TempDir() // a PATH without bash
	for _, tc := range []struct {
		shell   string
		noBash  bool
		started bool   // the bootstrap started: no ShellError
		cause   string // in the error
		posix   bool   // the hint is to install bash, not to change the shell
	}{
		{shell: "bash", started: true},
		{shell: "dash", started: true},
		{shell: "ksh", started: true},
		{shell: "zsh", started: true},
		{shell: "fish", cause: "the login shell is fish, which reads no POSIX shell"},
		{shell: "tcsh", cause: "the login shell is csh or tcsh"},
		{shell: "nologin", cause: "/usr/sbin/nologin or /bin/false"},
		{shell: "false", cause: "/usr/sbin/nologin or /bin/false"},
		{shell: "dash", noBash: true, cause: "bash is not installed there", posix: true},
	} {
		name := tc.shell
		if tc.noBash {
			name += "-without-bash"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path, err := exec.LookPath(tc.shell)
			if err != nil && tc.shell == "nologin" {
				path, err = "/usr/sbin/nologin", nil
			}
			if err != nil {
				if os.Getenv("DEPLOY_REQUIRE_SSHD") == "1" {
					t.Fatalf("%s is not installed: run scripts/deps.sh test", tc.shell)
				}
				t.Skipf("%s is not installed", tc.shell)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			feed := NewFeedFor(text, nil)
			cmd := exec.CommandContext(ctx, path, "-c", line)
			cmd.Env = []string{"HOME=" + testfs.HomeWithoutCache(t), "PATH=" + os.Getenv("PATH")}
			if tc.noBash {
				cmd.Env[1] = "PATH=" + noBash
			}
			out, errOut, err := runPiped(t, cmd, feed)
			if feed.TimedOut() {
				t.Fatalf("under %s the Feed timed out", tc.shell)
			}
			if err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				err = exitStatusError{ee}
			}
			got := feed.Explain(err, "deployer")
			var se *ShellError
			if tc.started {
				if got != nil || out.String() != "ran" {
					t.Fatalf("under %s: error %v, stdout %q; want the script to run", tc.shell, got, out.String())
				}
				return
			}
			if !errors.As(got, &se) {
				t.Fatalf("under %s: error %v (stdout %q, stderr %q); want a ShellError", tc.shell, got, out.String(), errOut.String())
			}
			if !errors.Is(got, err) && err != nil {
				t.Errorf("the ShellError does not wrap the exit error %v", err)
			}
			msg := got.Error()
			if !strings.HasPrefix(msg, "the server's login shell did not start deploy's script (") || !strings.Contains(msg, tc.cause) {
				t.Errorf("under %s the error reads %q; want the cause %q", tc.shell, msg, tc.cause)
			}
			h := se.Hint()
			if wantHint := "sudo usermod --shell /bin/bash deployer"; tc.posix == strings.Contains(h, wantHint) {
				t.Errorf("under %s the hint reads %q", tc.shell, h)
			}
			if tc.posix && !strings.Contains(h, "apt-get install bash") {
				t.Errorf("under %s the hint reads %q; want bash installed", tc.shell, h)
			}
			if strings.Contains(msg, "deploy_cache") {
				t.Errorf("the error quotes the command line back: %q", msg)
			}
		})
	}
	t.Run("slow and silent, exit 0", func(t *testing.T) {
		// past the ask wait, a shell that ran nothing and exited 0 (a
		// forced command that takes its time) is still a ShellError
		feed := NewFeedFor(text, nil)
		feed.SetAskWait(50 * time.Millisecond)
		_, _, err := runPiped(t, exec.Command("sh", "-c", "sleep 0.3"), feed)
		var se *ShellError
		if got := feed.Explain(err, "deployer"); err != nil || !feed.TimedOut() || !errors.As(got, &se) {
			t.Errorf("err %v, timed out %v: Explain = %v; want a ShellError", err, feed.TimedOut(), got)
		}
	})
	t.Run("lost connection or signal", func(t *testing.T) {
		feed := NewFeedFor(text, nil)
		feed.Done()
		lost := errors.New("connection lost")
		if got := feed.Explain(lost, "deployer"); got != lost {
			t.Errorf("a command cut off before the bootstrap spoke: %v; want the transport's own error", got)
		}
		cmd := exec.Command("sh", "-c", "kill -KILL $$")
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("a killed sh: %v", err)
		}
		killed := exitStatusError{ee} // ExitStatus -1, as Local gives it
		if got := feed.Explain(killed, "deployer"); got != error(killed) {
			t.Errorf("a command killed before the bootstrap spoke: %v; want the transport's own error", got)
		}
	})
}

// exitStatusError gives an exec.ExitError the ExitStatus a Conn's exit
// error has.
type exitStatusError struct{ *exec.ExitError }

func (e exitStatusError) ExitStatus() int { return e.ExitCode() }
func (e exitStatusError) Unwrap() error   { return e.ExitError }

// runPiped runs cmd with feed as its stdin and stderr filter, and tells
// feed when it ended. Stdin goes through a pipe, as Local and ssh's
// session give it: the command's end does not wait for the Feed's stdin
// (runFed's exec copy does).
func runPiped(t *testing.T, cmd *exec.Cmd, feed *Feed) (out, errOut *bytes.Buffer, err error) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	go func() { _, _ = io.Copy(pw, feed.Stdin()); _ = pw.Close() }()
	out, errOut = &bytes.Buffer{}, &bytes.Buffer{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, out, feed.Stderr(errOut)
	err = cmd.Run()
	feed.Done()
	return out, errOut, err
}
