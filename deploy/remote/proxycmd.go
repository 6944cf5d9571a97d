package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proxyExitWait is how long a ProxyCommand whose pipes were closed gets to
// exit by itself (and finish its message on stderr) before SIGHUP;
// proxyStopWait how long it gets after SIGHUP before SIGKILL.
const (
	proxyExitWait = 200 * time.Millisecond
	proxyStopWait = 2 * time.Second
)

// proxyStderrMax bounds the ProxyCommand output kept for error messages.
const proxyStderrMax = 4096

// proxyConn is a connection carried by a ProxyCommand's stdin and stdout,
// as OpenSSH runs it: `$SHELL -c "exec <command>"` (/bin/sh without
// $SHELL). The command is the user's own, from their ssh_config.
type proxyConn struct {
	cmd    *exec.Cmd
	r, w   *os.File // its stdout, its stdin
	stderr *tailBuffer
	done   chan struct{} // closed when the command exited
	once   sync.Once
}

// startProxy starts e's ProxyCommand.
func startProxy(e Endpoint, o Options) (net.Conn, error) {
	shell := os.Getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start ProxyCommand: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("start ProxyCommand: %w", err)
	}
	p := &proxyConn{r: outR, w: inW, stderr: &tailBuffer{max: proxyStderrMax}, done: make(chan struct{})}
	p.cmd = exec.Command(shell, "-c", "exec "+e.ProxyCommand)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = inR, outW, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = p.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		outR.Close()
		inW.Close()
		return nil, fmt.Errorf("start ProxyCommand %q: %w", e.ProxyCommand, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Read reads what the command wrote to its stdout.
func (p *proxyConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// Write writes to the command's stdin.
func (p *proxyConn) Write(b []byte) (int, error) { return p.w.Write(b) }

// Close closes the pipes and stops the command: SIGHUP to its process
// group (as OpenSSH sends) unless it exits by itself at once, then
// SIGKILL.
func (p *proxyConn) Close() error {
	p.once.Do(func() {
		_ = p.w.Close()
		_ = p.r.Close()
		pid := p.cmd.Process.Pid
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGKILL} {
			wait := proxyExitWait
			if sig == syscall.SIGKILL {
				wait = proxyStopWait
			}
			select {
			case <-p.done:
				return
			case <-time.After(wait):
				_ = syscall.Kill(-pid, sig)
			}
		}
		<-p.done
	})
	return nil
}

// LocalAddr and RemoteAddr name the command; host keys are looked up by
// name, never by this address.
func (p *proxyConn) LocalAddr() net.Addr  { return proxyAddr("ProxyCommand") }
func (p *proxyConn) RemoteAddr() net.Addr { return proxyAddr("ProxyCommand") }

// SetDeadline sets both pipes' deadlines.
func (p *proxyConn) SetDeadline(t time.Time) error {
	return errors.Join(p.r.SetReadDeadline(t), p.w.SetWriteDeadline(t))
}

// SetReadDeadline sets the deadline of reads from the command.
func (p *proxyConn) SetReadDeadline(t time.Time) error { return p.r.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of writes to the command.
func (p *proxyConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

type proxyAddr string

func (a proxyAddr) Network() string { return "proxy" }
func (a proxyAddr) String() string  { return string(a) }

// proxyError adds what a ProxyCommand printed to a failed handshake.
func proxyError(conn net.Conn, err error) error {
	p, ok := conn.(*proxyConn)
	if !ok {
		return err
	}
	if msg := strings.TrimSpace(p.stderr.String()); msg != "" {
		return fmt.Errorf("%w (ProxyCommand said: %s)", err, strings.ReplaceAll(msg, "\n", "; "))
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
