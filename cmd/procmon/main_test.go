package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/internal/version"
)

// TestMain doubles as a tiny worker app when PROCMON_CMD_WORKER=1; with
// PROCMON_CMD_NEVER_READY=1 too it never listens.
//
// With PROCMON_CMD_MAIN=1 it is procmon itself (main, with the test
// binary's arguments), for tests that need procmon in a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv("PROCMON_CMD_MAIN") == "1" {
		os.Unsetenv("PROCMON_CMD_MAIN")
		main()
	}
	if os.Getenv("PROCMON_CMD_WORKER") == "1" {
		if os.Getenv("PROCMON_CMD_NEVER_READY") == "1" {
			fmt.Println("worker never ready, as asked")
			select {}
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			os.Exit(2)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "generation %s\n", os.Getenv("PROCMON_GENERATION"))
		})}
		go srv.Serve(l)
		fmt.Println("worker up")
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		<-term
		srv.Shutdown(context.Background())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"procmon", "--version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), version.String()) {
		t.Fatalf("--version printed %q", out.String())
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("dir = \"/srv\"\ncommand = [\"x\"]\nlisten = \":8080\"\nstop_timeout = \"soon\"\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"procmon", "run"}, `Required flag "config" not set`},
		{[]string{"procmon", "run", "-c", filepath.Join(dir, "none.toml")}, "none.toml: no such file"},
		{[]string{"procmon", "run", "-c", bad}, `bad.toml:4: key "stop_timeout": "soon" is not a duration`},
	}
	for _, tc := range cases {
		err := run(t.Context(), tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestPrintError(t *testing.T) {
	var out bytes.Buffer
	printError(&out, errors.Join(
		hint.Errorf("choose a port between 1 and 65535", "a.toml:3: key \"listen\": port 0 is not usable"),
		hint.Errorf(`write it like "30s"`, "a.toml:5: key \"stop_timeout\": \"30\" is not a duration")))
	want := "error: a.toml:3: key \"listen\": port 0 is not usable\nhint: choose a port between 1 and 65535\n" +
		"error: a.toml:5: key \"stop_timeout\": \"30\" is not a duration\nhint: write it like \"30s\"\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

// TestRunServesReloadsOnSIGHUPAndStops runs `procmon run -c` for real:
// it serves, reloads on SIGHUP, and returns nil when the context ends.
func TestRunServesReloadsOnSIGHUPAndStops(t *testing.T) {
	dir := t.TempDir()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	exe, _ := os.Executable()
	cfg := filepath.Join(dir, "app.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("dir = %q\ncommand = [%q]\nlisten = %q\nworkers = 2\nenv = { PROCMON_CMD_WORKER = \"1\" }\nstop_timeout = \"5s\"\nsocket = %q\n",
		dir, exe, addr, filepath.Join(dir, "app.sock"))), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"procmon", "run", "-c", cfg}, stdout, stderr) }()
	waitBody(t, "http://"+addr+"/", "generation 1", stderr)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitBody(t, "http://"+addr+"/", "generation 2", stderr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(stderr.String(), "worker=1") || !strings.Contains(stderr.String(), "| worker up") {
		t.Fatalf("worker output without [log] file not on stderr: %q", stderr.String())
	}
}

func waitBody(t *testing.T, url, want string, log fmt.Stringer) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered %q; log:\n%s", url, want, log)
}

// Shell completion (urfave/cli's --generate-bash-completion, which the
// README's bash and zsh snippets call) offers the subcommands. It runs
// procmon as its own process: urfave/cli's completion reads os.Args.
func TestCompletionOffersSubcommands(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--generate-bash-completion")
	cmd.Env = append(os.Environ(), "PROCMON_CMD_MAIN=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, sub := range []string{"run", "reload", "status", "logs", "unit"} {
		if !strings.Contains(string(out), sub+"\n") {
			t.Errorf("completion lacks %q: %q", sub, out)
		}
	}
}
