// Package demo is `make demo`: it deploys an example app to a target on
// this machine through the real code path (the deploy and procmon
// binaries, a private sshd on 127.0.0.1 when /usr/sbin/sshd exists, else
// deploy's local transport running the same remote script with bash),
// serves it under procmon, deploys a change while a load loop runs,
// reverts it, reports failed requests, and cleans up.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/internal/freeport"
)

// Options configure a demo run.
type Options struct {
	// BinDir holds the deploy and procmon binaries (make build's bin/).
	BinDir string
	// ExamplesDir is the repo's examples/ directory.
	ExamplesDir string
	// Keep leaves the work directory, procmon and sshd running when done
	// (false = clean everything up on exit).
	Keep bool
	// Local forces the local transport even when sshd exists.
	Local bool
	// Example is node-hello or go-hello ("" = node-hello when node is
	// installed, else go-hello).
	Example string
	// Out receives the demo's narration.
	Out io.Writer
}

// workspace is everything one demo run creates.
type workspace struct {
	dir     string // the temp dir holding all of it
	origin  string // the git repo deployed from
	server  string // the app's path on the "server"
	conf    string // deploy.conf
	pmConf  string // procmon.toml
	listen  string // procmon's public address
	sshd    *privateSSHD
	procmon *exec.Cmd
	o       Options
	binDir  string // o.BinDir, absolute: the server side runs procmon from it
}

// Report is what the demo measured.
type Report struct {
	Deploy, Revert loadReport
}

// Run runs the whole demo. It returns an error when a step fails or a
// request failed during the deploy or the revert.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	o.Out = &lockedWriter{w: o.Out}
	ex, err := pickExample(o.Example)
	if err != nil {
		return nil, err
	}
	w, err := newWorkspace(o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.Keep {
			w.sayKept()
			return
		}
		if cerr := w.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := w.prepare(ctx, ex); err != nil {
		return nil, err
	}
	return w.story(ctx)
}

func newWorkspace(o Options) (*workspace, error) {
	dir, err := os.MkdirTemp("", "deploy-demo-")
	if err != nil {
		return nil, err
	}
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, err
	}
	return &workspace{dir: dir, binDir: bin, origin: filepath.Join(dir, "origin"), server: filepath.Join(dir, "server"),
		conf: filepath.Join(dir, "deploy.conf"), pmConf: filepath.Join(dir, "procmon.toml"),
		listen: fmt.Sprintf("127.0.0.1:%d", port), o: o}, nil
}

func (w *workspace) say(format string, args ...any) {
	fmt.Fprintf(w.o.Out, "==> "+format+"\n", args...)
}

// prepare makes the origin, the target and both configs.
func (w *workspace) prepare(ctx context.Context, ex example) error {
	w.say("origin: a git repo made from examples/%s at %s", ex.Name, w.origin)
	if err := makeOrigin(filepath.Join(w.o.ExamplesDir, ex.Name), w.origin); err != nil {
		return err
	}
	if _, err := os.Stat(sshdPath); err == nil && !w.o.Local {
		s, err := startSSHD(ctx, filepath.Join(w.dir, "sshd"))
		if err != nil {
			return err
		}
		w.sshd = s
		w.say("target: a private sshd on 127.0.0.1:%d, app path %s", s.Port, w.server)
	} else {
		w.say("target: %s via the local transport (no %s: the same remote script runs with local bash)", w.server, sshdPath)
	}
	if err := writeDeployConf(w.conf, w, ex); err != nil {
		return err
	}
	return writeProcmonConf(w.pmConf, w, ex)
}

// story is the part a user watches: setup, procmon waiting, a first
// deploy gated on it, deploy a change under load, revert under load.
func (w *workspace) story(ctx context.Context) (*Report, error) {
	if err := w.deploy(ctx, "setup"); err != nil {
		return nil, err
	}
	// As on a server: procmon runs first and waits for the first deploy,
	// whose gate (procmon reload --wait) starts the workers.
	if err := w.startProcmon(ctx); err != nil {
		return nil, err
	}
	if err := w.deploy(ctx); err != nil {
		return nil, err
	}
	if err := w.waitVersion(ctx, "v1"); err != nil {
		return nil, err
	}
	w.say("serving v1 at http://%s/ under procmon", w.listen)
	if err := commitVersion(w.origin, "v2"); err != nil {
		return nil, err
	}
	rep, err := w.deployAndRevertUnderLoad(ctx)
	if err != nil {
		return rep, err
	}
	if rep.Deploy.Failed+rep.Revert.Failed > 0 {
		return rep, fmt.Errorf("%d requests failed (first: %s)", rep.Deploy.Failed+rep.Revert.Failed,
			firstNonEmpty(rep.Deploy.FirstErr, rep.Revert.FirstErr))
	}
	w.say("done: zero failed requests across a deploy and a revert")
	return rep, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (w *workspace) sayLoad(what string, r loadReport) {
	var seen []string
	for v, n := range r.Versions {
		seen = append(seen, fmt.Sprintf("%q×%d", v, n))
	}
	w.say("%s under load: %d requests, %d failed; answers: %s", what, r.Requests, r.Failed, strings.Join(seen, ", "))
}

// deployAndRevertUnderLoad deploys v2 and reverts to v1 while one load
// loop hits the app the whole time: from before the deploy until the
// revert finished and v1 answers again. Each phase must have seen both
// versions answer (the old one before the switch, the new one after),
// and the load must not have stopped at its bound before the end.
func (w *workspace) deployAndRevertUnderLoad(ctx context.Context) (*Report, error) {
	l := startLoad(ctx, "http://"+w.listen+"/")
	rep := &Report{}
	err := w.deploy(ctx)
	if err == nil {
		err = w.waitVersion(ctx, "v2")
	}
	time.Sleep(300 * time.Millisecond) // a little load on the new generation too
	rep.Deploy = l.phase()
	if err == nil {
		err = w.deploy(ctx, "revert")
	}
	if err == nil {
		err = w.waitVersion(ctx, "v1")
	}
	time.Sleep(300 * time.Millisecond)
	rep.Revert = l.finish()
	if err != nil {
		return rep, err
	}
	w.sayLoad("deploy of v2", rep.Deploy)
	w.sayLoad("revert to v1", rep.Revert)
	if l.exhausted() {
		return rep, fmt.Errorf("the load loop stopped at its bound (%d requests or %s) before the revert finished", loadMaxRequests, loadMaxDuration)
	}
	if err := bothVersions("the deploy of v2", rep.Deploy, "v1", "v2"); err != nil {
		return rep, err
	}
	return rep, bothVersions("the revert to v1", rep.Revert, "v2", "v1")
}

// bothVersions checks that a phase's answers showed the old version and
// then the new one: a phase whose load saw only one of them proves nothing
// about zero downtime across the switch.
func bothVersions(what string, r loadReport, from, to string) error {
	for _, v := range []string{from, to} {
		n := 0
		for body, c := range r.Versions {
			if strings.HasSuffix(body, "demo "+v) {
				n += c
			}
		}
		if n == 0 {
			return fmt.Errorf("during %s the load never saw %s answer (answers: %v): it did not span the switch", what, v, r.Versions)
		}
	}
	return nil
}

// deploy runs the deploy binary with the demo's config.
func (w *workspace) deploy(ctx context.Context, args ...string) error {
	argv := []string{"-c", w.conf}
	if w.sshd == nil {
		argv = append(argv, "--transport", "local")
	}
	argv = append(append(argv, "demo"), args...)
	w.say("deploy %s", strings.Join(append([]string{"demo"}, args...), " "))
	cmd := exec.CommandContext(ctx, filepath.Join(w.o.BinDir, "deploy"), argv...)
	out := indent(w.o.Out)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = os.Environ()
	if w.sshd != nil {
		// DEPLOY_SSH_HOME is the client's ~/.ssh (deploy reads the passwd
		// entry's home otherwise, as ssh does); HOME keeps git and the
		// tools deploy runs away from the real user's files.
		cmd.Env = append(cmd.Env, "HOME="+w.sshd.Home, config.SSHHomeEnv+"="+w.sshd.Home, "SSH_AUTH_SOCK=")
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("deploy %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// startProcmon runs procmon in the foreground of a child process.
func (w *workspace) startProcmon(ctx context.Context) error {
	logPath := filepath.Join(w.dir, "procmon.out")
	w.say("procmon run -c %s (listening on %s, its own output in %s)", w.pmConf, w.listen, logPath)
	out, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(filepath.Join(w.o.BinDir, "procmon"), "run", "-c", w.pmConf)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start procmon: %w", err)
	}
	w.procmon = cmd
	return nil
}

// waitVersion waits (bounded) until the app answers "hello from demo <version>".
func (w *workspace) waitVersion(ctx context.Context, version string) error {
	want := "demo " + version
	deadline := time.Now().Add(45 * time.Second)
	client := newClient()
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		body, err := get(ctx, client, "http://"+w.listen+"/")
		if err == nil && strings.HasSuffix(body, want) {
			return nil
		}
		last = body
		if err != nil {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	tail, _ := os.ReadFile(filepath.Join(w.dir, "procmon.out"))
	return fmt.Errorf("the app never answered %q (last: %s); procmon said:\n%s", want, last, lastLines(string(tail), 20))
}

// cleanup stops procmon and sshd and removes the work directory.
func (w *workspace) cleanup() error {
	var errs []error
	if w.procmon != nil {
		_ = w.procmon.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- w.procmon.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-w.procmon.Process.Pid, syscall.SIGKILL)
			<-done
			errs = append(errs, errors.New("procmon did not stop within 20s: killed"))
		}
	}
	if w.sshd != nil {
		w.sshd.Stop()
	}
	if err := os.RemoveAll(w.dir); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(w.o.Out, "==> cleaned up: procmon stopped, %s removed\n", w.dir)
	return errors.Join(errs...)
}

func (w *workspace) sayKept() {
	fmt.Fprintf(w.o.Out, "==> kept everything in %s:\n", w.dir)
	fmt.Fprintf(w.o.Out, "    server layout  %s (current, releases/, shared/, .deploys)\n", w.server)
	fmt.Fprintf(w.o.Out, "    configs        %s, %s\n", w.conf, w.pmConf)
	fmt.Fprintf(w.o.Out, "    app            http://%s/ (procmon log: %s)\n", w.listen, filepath.Join(w.dir, "procmon.log"))
	if w.procmon != nil {
		fmt.Fprintf(w.o.Out, "    clean up with  kill %d", w.procmon.Process.Pid)
		if w.sshd != nil && w.sshd.cmd.Process != nil {
			fmt.Fprintf(w.o.Out, " %d", w.sshd.cmd.Process.Pid)
		}
		fmt.Fprintf(w.o.Out, "; rm -rf %s\n", w.dir)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
