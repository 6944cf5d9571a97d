package procmon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/procmon/proxy"
)

// shimScript makes LISTEN_PID the worker's own pid: sh exports its pid and
// then execs the command in place, so the pid stays the same. The command
// reaches it as "$@", never as shell text.
const shimScript = `LISTEN_PID=$$; export LISTEN_PID; exec "$@"`

// worker is one process of a generation. The loop goroutine owns every
// field except those documented otherwise.
type worker struct {
	gen      *generation
	id       int
	port     int
	pid      int
	started  time.Time
	state    WorkerState
	ready    bool           // passed its readiness check at some point
	backend  *proxy.Backend // proxy mode: its place in the load balancer
	notify   chan struct{}  // closed by the loop on READY=1 (notify check)
	notified bool
	hb       workerHeartbeat

	done        chan struct{} // closed once the process was reaped
	outputDone  chan struct{} // closed once its output pipe ended
	cancelReady context.CancelFunc
	stopOnce    sync.Once
}

// spawnSpec is what a worker start needs beyond its generation.
type spawnSpec struct {
	listener     *os.File // socket mode: the shared listener, as fd 3
	notifySocket string
	output       *lineSink
	// cred is the config's user and group (nil: procmon's own); userEnv
	// its HOME, USER and LOGNAME, which the config's env may override.
	cred    *syscall.Credential
	userEnv map[string]string
}

// spawn starts the worker's process in its own process group.
func (w *worker) spawn(spec spawnSpec) (*exec.Cmd, error) {
	cfg := w.gen.cfg
	argv := cfg.Command
	if spec.listener != nil {
		argv = append([]string{"/bin/sh", "-c", shimScript, "procmon-shim"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = w.gen.dir
	cmd.Env = w.environ(spec)
	// The kernel applies Credential in the child before exec, and Go sets
	// Pdeathsig after it (a change of uid would clear it otherwise).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: spec.cred}
	if spec.listener != nil {
		cmd.ExtraFiles = []*os.File{spec.listener}
	}
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = wr, wr
	err = cmd.Start()
	wr.Close()
	if err != nil {
		r.Close()
		if spec.cred != nil && errors.Is(err, os.ErrPermission) {
			return nil, hint.Wrap(fmt.Errorf("start worker %d as %s: %w", w.id, spec.userEnv["USER"], err), fmt.Sprintf("dir, the release in it and command must be readable and executable by user %s", spec.userEnv["USER"]))
		}
		return nil, hint.Wrap(fmt.Errorf("start worker %d: %w", w.id, err), "check command and dir in the config")
	}
	w.pid = cmd.Process.Pid
	w.started = time.Now()
	w.outputDone = make(chan struct{})
	go func() {
		spec.output.copyLines(r, w.gen.num, w.id, w.pid)
		close(w.outputDone)
	}()
	return cmd, nil
}

func (w *worker) environ(spec spawnSpec) []string {
	drop := map[string]bool{"PORT": true, "WORKER_ID": true, "PROCMON_GENERATION": true,
		"NOTIFY_SOCKET": true, "LISTEN_FDS": true, "LISTEN_PID": true, "LISTEN_FDNAMES": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := cutEnv(kv)
		if _, own := spec.userEnv[k]; !drop[k] && !own && w.gen.cfg.Env[k] == "" {
			env = append(env, kv)
		}
	}
	for k, v := range spec.userEnv {
		if _, set := w.gen.cfg.Env[k]; !set {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range w.gen.cfg.Env {
		env = append(env, k+"="+v)
	}
	env = append(env, "WORKER_ID="+strconv.Itoa(w.id), "PROCMON_GENERATION="+strconv.Itoa(w.gen.num))
	if w.port != 0 {
		env = append(env, "PORT="+strconv.Itoa(w.port))
	}
	if spec.notifySocket != "" {
		env = append(env, "NOTIFY_SOCKET="+spec.notifySocket)
	}
	if spec.listener != nil {
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES="+w.gen.cfg.Name)
	}
	return env
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// signalGroup sends sig to the worker's process group. The group id is the
// leader's pid, which the kernel does not reuse while the group has members.
func (w *worker) signalGroup(sig syscall.Signal) {
	if w.pid > 0 {
		_ = syscall.Kill(-w.pid, sig)
	}
}

// stop drains (waits for drained to return true, up to timeout), sends the
// stop signal to the group, and SIGKILLs it timeout later or at once when
// force is closed. It runs in its own goroutine; only the first call acts.
func (w *worker) stop(sig syscall.Signal, drainFor, timeout time.Duration, drained func() bool, force <-chan struct{}) {
	w.stopOnce.Do(func() {
		if drained != nil {
			waitDrained(drained, drainFor, w.done, force)
		}
		select {
		case <-w.done:
			return // reaped: its group id may belong to someone else by now
		default:
		}
		w.signalGroup(sig)
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-w.done:
		case <-t.C:
			w.signalGroup(syscall.SIGKILL)
		case <-force:
			w.signalGroup(syscall.SIGKILL)
		}
	})
}

func waitDrained(drained func() bool, timeout time.Duration, done, force <-chan struct{}) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !drained() && time.Now().Before(deadline) {
		select {
		case <-tick.C:
		case <-done:
			return
		case <-force:
			return
		}
	}
}

// exitDescription turns a Wait error into words for status and logs.
func exitDescription(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return err.Error()
}

// lineSink writes worker output to Options.Output, one whole line per Write.
type lineSink struct {
	mu  sync.Mutex
	out io.Writer
}

const maxLine = 64 << 10

func (s *lineSink) copyLines(r io.ReadCloser, gen, id, pid int) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLine)
	prefix := fmt.Sprintf(" gen=%d worker=%d pid=%d | ", gen, id, pid)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			s.writeLine(prefix, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (s *lineSink) writeLine(prefix string, line []byte) {
	if s.out == nil {
		return
	}
	buf := make([]byte, 0, len(line)+len(prefix)+32)
	buf = time.Now().UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z")
	buf = append(buf, prefix...)
	buf = append(buf, line...)
	if buf[len(buf)-1] != '\n' {
		buf = append(buf, '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.out.Write(buf)
}
