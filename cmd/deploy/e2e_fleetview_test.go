package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/syncbuf"
)

// twoHosts adds a second sshd "host" to f. Both serve the same disk (one
// machine), so the tests here only read from it or write files the test
// controls: status, check and logs must show both hosts, each prefixed.
func (f *fixture) twoHosts(t *testing.T) *sshtest.Server {
	t.Helper()
	second := sshtest.Start(t, sshtest.Options{})
	second.AuthorizeKey(t, f.sshd.ClientKey().Public())
	second.AppendKnownHost(t, filepath.Join(f.home, ".ssh", "known_hosts"), second.Addr())
	return second
}

// writeHosts writes a config whose env lists hosts, with extra lines.
func (f *fixture) writeHosts(hosts []string, extra ...string) {
	f.t.Helper()
	lines := []string{
		"[production]",
		"user " + f.sshd.User(),
		"hosts " + strings.Join(hosts, " "),
		"repo " + f.origin.dir,
		"path " + f.path,
		"ref origin/main",
	}
	f.conf = filepath.Join(f.t.TempDir(), "deploy.conf")
	writeFile(f.t, f.conf, strings.Join(append(lines, extra...), "\n")+"\n")
}

// waitFor waits, bounded, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// status, check and logs on two real sshd hosts: one table (or one stream)
// with a row (or prefix) per host; procmon absent is said in the row; a
// failing check item fails the command with a hint; procmon's logs with no
// [log] file say so once per host, on stderr.
func TestStatusCheckLogsOnTwoHosts(t *testing.T) {
	pm := buildProcmon(t) // before the fixture's HOME hides go's build cache
	f := newFixture(t)
	f.writeINI("shared log/")
	f.mustRun("production", "setup")
	f.mustRun("production")
	cur, sha := f.current(), f.currentSHA()
	second := f.twoHosts(t)
	h1, h2 := f.sshd.Addr(), second.Addr()
	f.writeHosts([]string{h1, h2}, "shared log/")

	st := f.mustRun("production", "status")
	for _, h := range []string{h1, h2} {
		want := fmt.Sprintf("%s  %s  %s  0       ", h, cur, sha[:7])
		if !strings.Contains(st.stdout, want) || !strings.Contains(st.stdout, "  free\n") {
			t.Errorf("status lacks %q:\n%s", want, st.stdout)
		}
	}
	f.writeHosts([]string{h1, h2}, "shared log/", "procmon /etc/procmon/app.toml")
	// procmon's state cannot be read: said in each row, and status fails.
	st = f.run(ctxMinute(t), "production", "status")
	if st.code != 1 || strings.Count(st.stdout, "procmon not installed") != 2 || !strings.Contains(st.stdout, "DEGRADED") {
		t.Errorf("status with procmon on hosts without it: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
	js := f.run(ctxMinute(t), "production", "status", "--json")
	if n := strings.Count(js.stdout, `"app_error":"procmon not installed"`); n != 2 || js.code != 1 {
		t.Errorf("status --json: exit %d, %d rows say procmon is missing, want 2:\n%s", js.code, n, js.stdout)
	}

	// procmon's logs with no [log] file: its error and hint once per
	// host, on stderr, and a summary with the exit status; nothing on
	// stdout (`logs | grep` reads the log alone).
	pmConf := filepath.Join(t.TempDir(), "app.toml")
	writeFile(t, pmConf, "name = \"app\"\ndir = \"/srv/app/current\"\ncommand = [\"python3\", \"app.py\"]\nlisten = \"127.0.0.1:1\"\n")
	f.writeHosts([]string{h1, h2}, "shared log/", "procmon "+pmConf, "env DEPLOY_PROCMON="+pm)
	lg := f.run(ctxMinute(t), "production", "logs")
	for _, h := range []string{h1, h2} {
		if strings.Count(lg.stderr, h+" | error: "+pmConf+" has no [log] file") != 1 || strings.Count(lg.stderr, h+" | hint: ") != 1 {
			t.Errorf("logs without [log] file: %s's error and hint are not on stderr once:\n%s", h, lg.stderr)
		}
	}
	if lg.code != 1 || lg.stdout != "" || strings.Contains(lg.stderr, "command on") || strings.Count(lg.stderr, "error:") != 3 ||
		!strings.Contains(lg.stderr, "error: logs failed on "+h1+" (exit status 1), "+h2+" (exit status 1)\n") &&
			!strings.Contains(lg.stderr, "error: logs failed on "+h2+" (exit status 1), "+h1+" (exit status 1)\n") {
		t.Errorf("logs without [log] file: exit %d\nstdout:\n%s\nstderr:\n%s\nwant each host's error once and one summary", lg.code, lg.stdout, lg.stderr)
	}

	f.writeHosts([]string{h1, h2}, "shared log/")
	ck := f.mustRun("production", "check")
	if !strings.Contains(ck.stdout, "all checks passed") || !strings.Contains(ck.stdout, "same-current  ok      all hosts on "+cur) {
		t.Errorf("check:\n%s", ck.stdout)
	}
	f.writeHosts([]string{h1, h2}, "shared log/", "pre-deploy no-such-tool-xyz --build")
	bad := f.run(ctxMinute(t), "production", "check")
	if bad.code != 1 || strings.Count(bad.stdout, "hook:no-such-tool-xyz  FAIL") != 2 ||
		!strings.Contains(bad.stdout, "hint: "+h1+" hook:no-such-tool-xyz: ") || !strings.Contains(bad.stderr, "error: check: 2 item(s) failed") {
		t.Errorf("failing check: exit %d\n%s\n%s", bad.code, bad.stdout, bad.stderr)
	}
	if f.current() != cur {
		t.Errorf("check changed current")
	}

	logFile := filepath.Join(f.path, "shared", "log", "app.log")
	writeFile(t, logFile, "one\ntwo\nthree\n")
	lg = f.mustRun("production", "logs", "-n", "2", "log/app.log")
	for _, h := range []string{h1, h2} {
		for _, l := range []string{"two", "three"} {
			if !strings.Contains(lg.stdout, h+" | "+l+"\n") {
				t.Errorf("logs lacks %q:\n%s", h+" | "+l, lg.stdout)
			}
		}
	}
	if strings.Contains(lg.stdout, "one") {
		t.Errorf("logs -n 2 printed a third line:\n%s", lg.stdout)
	}
	testLogsFollow(t, f, logFile, h1, h2)
}

// logs -f follows every host at once and ends cleanly on Ctrl-C.
func testLogsFollow(t *testing.T, f *fixture, logFile, h1, h2 string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		err := run(ctx, []string{"deploy", "-c", f.conf, "production", "logs", "-f", "-n", "1", "log/app.log"}, strings.NewReader(""), &out, &errOut)
		done <- exitCode(ctx, err, &errOut)
	}()
	waitFor(t, "both hosts' last line", func() bool {
		return strings.Contains(out.String(), h1+" | three") && strings.Contains(out.String(), h2+" | three")
	})
	fh, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(fh, "four")
	fh.Close()
	waitFor(t, "the new line from both hosts", func() bool {
		return strings.Contains(out.String(), h1+" | four") && strings.Contains(out.String(), h2+" | four")
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("logs -f ended by Ctrl-C: exit %d, stderr %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logs -f did not end after Ctrl-C")
	}
}
