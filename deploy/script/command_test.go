package script

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/testfs"
)

// hostile are values that would run something if pasted into shell text.
func hostile(marker string) []string {
	return []string{
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"x; touch " + marker,
		"x' ; touch " + marker + " ; '",
		`x" ; touch ` + marker + ` ; "`,
		"x\ntouch " + marker,
		"--upload-pack=touch " + marker,
		"-c core.sshCommand=touch " + marker,
		"a'b\"c\\d$e`f",
		"",
		"'",
		"''\\''",
		"ünïcødé ✓",
	}
}

// TestCommandPassesValuesVerbatim runs the real command line through sh
// and bash with a script that echoes its arguments, and checks that every
// hostile value arrives byte for byte and that none ran.
func TestCommandPassesValuesVerbatim(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "pwned")
	values := hostile(marker)
	text := `printf '%s\0' "$0" "$@"`
	line, err := CommandFor(text, "", "echo", values...)
	if err != nil {
		t.Fatal(err)
	}
	for _, shell := range []string{"sh", "bash"} {
		if _, err := exec.LookPath(shell); err != nil {
			continue
		}
		cmd := exec.Command(shell, "-c", line)
		cmd.Env = envWithoutCopies(t)
		cmd.Stdin = strings.NewReader(Frame(text))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", shell, err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		want := append([]string{ProgramName, "echo"}, values...)
		if len(got) != len(want) {
			t.Fatalf("%s: got %d args %q, want %d", shell, len(got), got, len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: arg %d = %q, want %q", shell, i, got[i], want[i])
			}
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: a hostile value ran: %s exists", shell, marker)
		}
	}
}

func TestCommandRefusesNUL(t *testing.T) {
	t.Parallel()
	_, err := Command("", "deploy", Arg("ref", "a\x00b"))
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("err = %v, want a NUL error", err)
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":      "''",
		"abc":   "'abc'",
		"a'b":   `'a'\''b'`,
		"$HOME": "'$HOME'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestStdinLeavesControlOpen checks that the bootstrap stops reading at the
// framed script's end: what follows is still there for the script.
func TestStdinLeavesControlOpen(t *testing.T) {
	t.Parallel()
	text := "IFS= read -r l; printf 'got:%s' \"$l\""
	line, err := CommandFor(text, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", line)
	cmd.Env = envWithoutCopies(t)
	var stdin bytes.Buffer
	stdin.WriteString(Frame(text) + "switch\n")
	cmd.Stdin = &stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "got:switch" {
		t.Fatalf("out = %q, want got:switch", out)
	}
}

func FuzzQuote(f *testing.F) {
	for _, v := range hostile("/nonexistent/x") {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			return
		}
		out, err := exec.Command("bash", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Fatalf("round trip of %q gave %q", s, out)
		}
	})
}

// TestCommandReadsBashrcOnce runs the command line as sshd does, through
// each login shell installed, with SSH_CLIENT set and no SHLVL: Debian's
// bash then reads ~/.bashrc. It must be read exactly once whatever the
// login shell (a bash login shell used to exec a bash that read it
// again), and what it exported must reach the script.
func TestCommandReadsBashrcOnce(t *testing.T) {
	t.Parallel()
	text := `printf '%s' "${FROM_RC:-unset}"`
	line, err := CommandFor(text, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, shell := range []string{"bash", "sh", "dash", "zsh"} {
		if _, err := exec.LookPath(shell); err != nil {
			continue
		}
		home := testfs.HomeWithoutCache(t)
		reads := filepath.Join(home, "reads")
		rc := "echo read >>" + Quote(reads) + "\nexport FROM_RC=yes\n"
		if err := os.WriteFile(filepath.Join(home, ".bashrc"), []byte(rc), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(shell, "-c", line)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "SSH_CLIENT=127.0.0.1 50000 22"}
		cmd.Stdin = strings.NewReader(Frame(text))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", shell, err)
		}
		b, _ := os.ReadFile(reads)
		if n := strings.Count(string(b), "read\n"); n != 1 || string(out) != "yes" {
			t.Errorf("login shell %s: ~/.bashrc read %d times, FROM_RC %q in the script; want once, yes", shell, n, out)
		}
	}
}

// TestTruncatedScriptNeverRuns: a script cut short on the way (a dropped
// connection mid-send) is not evaluated, not even its first part: the
// bootstrap exits 97 and nothing ran.
func TestTruncatedScriptNeverRuns(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	text := "touch " + Quote(marker) + "\necho rest"
	line, err := CommandFor(text, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	whole := Frame(text)
	for _, cut := range []int{1, len(whole) / 2, len(whole) - 2} {
		cmd := exec.Command("bash", "-c", line)
		cmd.Env = envWithoutCopies(t)
		cmd.Stdin = strings.NewReader(whole[:cut])
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 97 {
			t.Errorf("cut at %d of %d: %v, want exit 97", cut, len(whole), err)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("cut at %d of %d: the partial script ran", cut, len(whole))
		}
	}
}

// envWithoutCopies is this process's environment with HOME set to a
// testfs.HomeWithoutCache (the bootstrap finds no copy of a script and
// keeps none: every run reads the script from stdin, as these tests feed
// it, and no background save outlives the test into its temporary
// directory) and no XDG_CACHE_HOME.
func envWithoutCopies(t *testing.T) []string {
	t.Helper()
	env := []string{"HOME=" + testfs.HomeWithoutCache(t)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			env = append(env, kv)
		}
	}
	return env
}
