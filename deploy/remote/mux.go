package remote

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Sessions through an OpenSSH ControlMaster (ssh_config ControlPath), as
// `ssh host cmd` makes them when a master already holds a connection to
// the host: the login is the master's (a second factor is not asked
// again, nothing is dialled), and each session is a request on the
// master's socket, in OpenSSH's multiplexing protocol (PROTOCOL.mux,
// version 4). The session's stdin, stdout and stderr are descriptors
// passed to the master (SCM_RIGHTS), which copies them to and from its
// channel, and its exit status comes back as a message.
//
// As in ssh (mux.c's muxclient), a master is looked for when ControlPath
// is set and ControlMaster is not yes or ask (those make ssh the master);
// no socket, or one nobody answers on, means a connection of deploy's
// own, which deploy never shares (it is no master). Trust never uses a
// master: it is there to see the host's key.

const (
	muxVersion = 4

	muxMsgHello          = 0x00000001
	muxCNewSession       = 0x10000002
	muxCAliveCheck       = 0x10000004
	muxSOK               = 0x80000001
	muxSPermissionDenied = 0x80000002
	muxSFailure          = 0x80000003
	muxSExitMessage      = 0x80000004
	muxSAlive            = 0x80000005
	muxSSessionOpened    = 0x80000006
	muxSTTYAllocFail     = 0x80000008

	muxNoEscape = 0xffffffff // no escape character (ssh -e none)
)

// muxDialTimeout bounds reaching a master and its hello: a socket file
// whose master is stuck is given up on, as a dead one is.
const muxDialTimeout = 3 * time.Second

// muxConn is one connection to a master's socket, past the hello.
type muxConn struct {
	c   *net.UnixConn
	rid uint32 // the last request id sent
}

// dialMux connects to the master at path and exchanges hellos.
func dialMux(path string) (*muxConn, error) {
	d := net.Dialer{Timeout: muxDialTimeout}
	c, err := d.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	m := &muxConn{c: c.(*net.UnixConn)}
	_ = m.c.SetDeadline(time.Now().Add(muxDialTimeout))
	if err := m.send(muxMsgHello, u32(muxVersion)); err != nil {
		m.close()
		return nil, err
	}
	typ, body, err := m.read()
	if err == nil && (typ != muxMsgHello || len(body) < 4) {
		err = fmt.Errorf("the master answered message %#x, not hello", typ)
	}
	if err == nil && binary.BigEndian.Uint32(body) != muxVersion {
		err = fmt.Errorf("the master speaks multiplexing version %d, not %d", binary.BigEndian.Uint32(body), muxVersion)
	}
	if err != nil {
		m.close()
		return nil, err
	}
	_ = m.c.SetDeadline(time.Time{})
	return m, nil
}

func (m *muxConn) close() { _ = m.c.Close() }

// send writes one message: its length, type and body.
func (m *muxConn) send(typ uint32, body ...[]byte) error {
	n := 4
	for _, b := range body {
		n += len(b)
	}
	buf := make([]byte, 0, 4+n)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	buf = binary.BigEndian.AppendUint32(buf, typ)
	for _, b := range body {
		buf = append(buf, b...)
	}
	_, err := m.c.Write(buf)
	return err
}

// read reads one message, returning its type and body.
func (m *muxConn) read() (uint32, []byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(m.c, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n < 4 || n > 256*1024 {
		return 0, nil, fmt.Errorf("a multiplexing message of %d bytes", n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(m.c, msg); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(msg), msg[4:], nil
}

// request sends a request of type typ with a new request id before body.
func (m *muxConn) request(typ uint32, body ...[]byte) error {
	m.rid++
	return m.send(typ, append([][]byte{u32(m.rid)}, body...)...)
}

// sendFd passes one descriptor, with one byte, as ssh's mm_send_fd does.
func (m *muxConn) sendFd(fd uintptr) error {
	_, _, err := m.c.WriteMsgUnix([]byte{0}, unix.UnixRights(int(fd)), nil)
	return err
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func muxString(s string) []byte { return append(u32(uint32(len(s))), s...) }

func muxBool(b bool) []byte {
	if b {
		return u32(1)
	}
	return u32(0)
}

// muxReason reads the reason string of a refusal (request id, reason).
func muxReason(body []byte) string {
	if len(body) < 8 {
		return "(no reason given)"
	}
	n := binary.BigEndian.Uint32(body[4:])
	if uint64(n) > uint64(len(body)-8) {
		return "(no reason given)"
	}
	return string(body[8 : 8+n])
}

// muxAlive asks the master at path whether it is alive and returns its
// process id, as ssh -O check does.
func muxAlive(path string) (int, error) {
	m, err := dialMux(path)
	if err != nil {
		return 0, err
	}
	defer m.close()
	_ = m.c.SetDeadline(time.Now().Add(muxDialTimeout))
	if err := m.request(muxCAliveCheck); err != nil {
		return 0, err
	}
	typ, body, err := m.read()
	if err != nil {
		return 0, err
	}
	if typ != muxSAlive || len(body) < 8 {
		return 0, fmt.Errorf("the master answered message %#x to an alive check", typ)
	}
	return int(binary.BigEndian.Uint32(body[4:])), nil
}

// useMaster says whether ssh would look for a master for e (ControlPath
// set, ControlMaster not yes or ask) and, when one answers, returns its
// process id. Two cases where ssh would use it and deploy does not, and
// connects itself: StrictHostKeyChecking no (whose refusal is Dial's),
// and a ControlPath that does not name the user, host and port (%C, or
// %r@%h and %p), whose master may be another login's (ssh would run the
// command as whoever that master logged in as, where deploy.conf names
// the user).
func useMaster(e Endpoint, o Options) (int, bool) {
	if e.ControlPath == "" || e.ControlMaster == "yes" || e.ControlMaster == "ask" || o.seen != nil ||
		e.StrictHostKeyChecking == "false" {
		return 0, false
	}
	if !keyedPath(e) {
		if _, err := os.Stat(e.ControlPath); err == nil && o.Logf != nil {
			o.Logf("ssh_config ControlPath %s does not name the user, host and port (%%C, or %%r@%%h and %%p): the master there may have logged in as another user, so deploy connects to %s itself", e.ControlPath, e)
		}
		return 0, false
	}
	pid, err := muxAlive(e.ControlPath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED) && o.Logf != nil {
			o.Logf("ssh_config ControlPath %s: no master answers there (%v): connecting directly", e.ControlPath, err)
		}
		return 0, false
	}
	return pid, true
}

// keyedPath says whether e's expanded ControlPath names its connection:
// it holds %C's hash of it, or user@host and the port.
func keyedPath(e Endpoint) bool {
	t := tokens{hostName: e.HostName, port: e.Port, user: e.User}
	p := e.ControlPath
	if strings.Contains(p, t.value('C')) {
		return true
	}
	at := e.User + "@" + e.HostName
	i := strings.Index(p, at)
	return i >= 0 && strings.Contains(p[i+len(at):], strconv.Itoa(e.Port))
}

// muxSession runs cmd through the master with in, out and errOut as its
// descriptors (tty: on a pseudo-terminal of the master's, for a
// terminal in). It returns the exit status.
func (c *Client) muxSession(ctx context.Context, cmd string, tty bool, in, out, errOut *os.File) error {
	if err := c.refuseRemoteCommand(); err != nil {
		return err
	}
	if err := c.connLost(); err != nil {
		return err
	}
	m, err := dialMux(c.r.Host.ControlPath)
	if err != nil {
		return &Error{Op: "reach the ControlMaster of", Host: c.String(), Err: err,
			hint: "the ssh master at " + c.r.Host.ControlPath + " went away: run the command again (it connects directly when no master answers)"}
	}
	defer m.close()
	termName := ""
	if tty {
		if termName = os.Getenv("TERM"); termName == "" {
			termName = "xterm-256color"
		}
	}
	body := [][]byte{muxString(""), muxBool(tty), muxBool(false), muxBool(c.r.ForwardAgent), muxBool(false),
		u32(muxNoEscape), muxString(termName), muxString(cmd)}
	for _, e := range c.env {
		body = append(body, muxString(e.Name+"="+e.Value))
	}
	if err := m.request(muxCNewSession, body...); err != nil {
		return fmt.Errorf("ask the ControlMaster of %s for a session: %w", c, err)
	}
	for _, f := range []*os.File{in, out, errOut} {
		if err := m.sendFd(f.Fd()); err != nil {
			return fmt.Errorf("pass a descriptor to the ControlMaster of %s: %w", c, err)
		}
	}
	if c.o.Stats != nil {
		c.o.Stats.Sessions.Add(1)
	}
	type reply struct {
		typ  uint32
		body []byte
		err  error
	}
	replies := make(chan reply)
	gone := make(chan struct{})
	defer close(gone)
	go func() { // until the socket closes (m.close, deferred)
		for {
			typ, body, err := m.read()
			select {
			case replies <- reply{typ, body, err}:
			case <-gone:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	// The master answers once sshd has opened the channel. A master whose
	// connection died (the laptop slept, the network changed) never
	// does, and ssh would wait for it as long as TCP does: give up after
	// the connect timeout and say why.
	limit := c.o.connectTimeout(c.r.Host)
	openWait := time.NewTimer(limit)
	defer openWait.Stop()
	opened := false
	var exit func() error // set by the exit message
	for {
		var r reply
		select {
		case r = <-replies:
		case <-openWait.C:
			return &Error{Op: "open a session on", Host: c.String(),
				Err:  fmt.Errorf("the ssh master at %s (ssh_config ControlPath) has not opened a session in %s: its connection to the host is likely dead (a laptop that slept, a network that changed)", c.r.Host.ControlPath, limit),
				hint: "stop that master with 'ssh -O exit " + c.r.Host.Alias + "' and run the command again: deploy then connects itself"}
		case <-ctx.Done():
			// Closing the socket closes the session's channel in the
			// master, as a killed `ssh host cmd` does: the command's
			// input ends and its next write fails.
			m.close()
			return fmt.Errorf("run on %s: %w", c, ctx.Err())
		}
		if r.err != nil {
			if exit != nil {
				return exit()
			}
			if opened {
				return &Error{Op: "run on", Host: c.String(), Err: fmt.Errorf("the ControlMaster at %s closed the session without an exit status (the command was killed by a signal, or the master's connection went down): %w", c.r.Host.ControlPath, r.err),
					hint: "check the network and that the host is up, then run the command again"}
			}
			return fmt.Errorf("ask the ControlMaster of %s for a session: %w", c, r.err)
		}
		switch r.typ {
		case muxSSessionOpened:
			opened = true
			openWait.Stop()
		case muxSTTYAllocFail:
			// the session goes on without a terminal, as in ssh
		case muxSExitMessage:
			if len(r.body) < 8 {
				return fmt.Errorf("run on %s: a short exit message from the ControlMaster", c)
			}
			// The status comes when the command exits; its output may
			// still be on the way to our descriptors, and closing the
			// socket now makes the master drop the session with it. As
			// ssh's mux client does, wait for the master to close it.
			st := int(binary.BigEndian.Uint32(r.body[4:]))
			exit = func() error {
				if st != 0 {
					return &ExitError{Host: c.String(), Status: st}
				}
				return nil
			}
		case muxSPermissionDenied, muxSFailure:
			return &Error{Op: "open a session on", Host: c.String(),
				Err:  fmt.Errorf("the ControlMaster at %s refused: %s", c.r.Host.ControlPath, muxReason(r.body)),
				hint: "ssh -O check " + c.r.Host.Alias + " says whether the master is usable; ssh -O exit " + c.r.Host.Alias + " stops it, and deploy then connects directly"}
		}
	}
}

// muxRun is Run through the master: pipes stand for stdin, stdout and
// stderr, and their ends are copied to and from the caller's.
func (c *Client) muxRun(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	inR, inW, err := os.Pipe()
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return err
	}
	var copies sync.WaitGroup
	copyOut := func(w io.Writer, r *os.File) {
		defer copies.Done()
		if w == nil {
			w = io.Discard
		}
		_, _ = io.Copy(w, r)
	}
	copies.Add(2)
	go copyOut(stdout, outR)
	go copyOut(stderr, errR)
	go func() {
		if stdin != nil {
			_, _ = io.Copy(inW, stdin)
		}
		inW.Close()
	}()
	err = c.muxSession(ctx, cmd, false, inR, outW, errW)
	// The master holds its own copies: after an exit status the output
	// ends when it closes them. Without one (ctx ended, a master whose
	// connection is dead) it may never: stop copying.
	inR.Close()
	outW.Close()
	errW.Close()
	var ee *ExitError
	if err != nil && !errors.As(err, &ee) {
		outR.Close()
		errR.Close()
	}
	copies.Wait()
	outR.Close()
	errR.Close()
	return err
}

// muxInteractive is Interactive through the master: the master gets the
// local terminal itself, as from `ssh -t host cmd`, and the local
// terminal goes raw meanwhile; window size changes are relayed to the
// master (SIGWINCH to its process), which reads the new size from that
// terminal, as ssh's mux client does.
func (c *Client) muxInteractive(ctx context.Context, cmd string, in *os.File, out, errOut io.Writer) error {
	outF, okOut := out.(*os.File)
	errF, okErr := errOut.(*os.File)
	if !okOut || !okErr {
		return c.muxRun(ctx, cmd, in, out, errOut)
	}
	fd := int(in.Fd())
	isTerm := term.IsTerminal(fd)
	if isTerm {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("put the local terminal in raw mode: %w", err)
		}
		defer func() { _ = term.Restore(fd, old) }()
		stop := onWindowChange(func() {
			if c.muxPid > 0 {
				_ = syscall.Kill(c.muxPid, syscall.SIGWINCH)
			}
		})
		defer stop()
	}
	return c.muxSession(ctx, cmd, isTerm, in, outF, errF)
}
