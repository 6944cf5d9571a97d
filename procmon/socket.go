package procmon

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/deploytool/deploy/internal/freeport"
	"github.com/deploytool/deploy/internal/hint"
	"golang.org/x/sys/unix"
)

// listenPublic binds the public address; errors name the key.
func listenPublic(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("key \"listen\": cannot listen on %s: %w", addr, err), "is another process using the port? is it below 1024 without the right to bind it?")
	}
	return l, nil
}

// listenerFile returns a duplicate of l's socket for fd 3 of socket-mode
// workers and closes l: procmon itself never accepts in socket mode.
//
// The duplicate is made by hand, in blocking mode, so that os.NewFile
// leaves it out of Go's poller. TCPListener.File would register it there,
// and then every connection a worker is about to accept woke procmon too:
// with Connection: close traffic that cost about 15 % of the workers'
// requests/s on a 2-core machine.
func listenerFile(l net.Listener) (*os.File, error) {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("listener %T is not TCP", l)
	}
	defer tl.Close()
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("share the listening socket: %w", err)
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("share the listening socket: %w", err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("share the listening socket: %w", dupErr)
	}
	tl.Close() // before the mode changes: the flag is shared by both descriptors
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("share the listening socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "listener"), nil
}

// freePort asks the kernel for an unused loopback port for a worker's PORT.
func freePort() (int, error) { return freePortBut(func(int) bool { return false }) }

// freePortBut is freePort, never a port taken says is taken: the ports of
// workers that may not have bound theirs yet. The kernel hands a port
// just closed out again (3 of 10 000 back-to-back pairs here), and two
// workers of one generation given one PORT would fail the second's
// listen, and so the reload.
func freePortBut(taken func(int) bool) (int, error) {
	p, err := freeport.Except(taken)
	if err != nil {
		return 0, fmt.Errorf("for a worker: %w", err)
	}
	return p, nil
}

// notifySocket is procmon's NOTIFY_SOCKET: workers send sd_notify datagrams
// ("READY=1") to it; the kernel tells us the sender's pid.
type notifySocket struct {
	dir  string
	path string
	conn *net.UnixConn
}

// notifyMsg is one datagram: its sender and its KEY=VALUE lines.
type notifyMsg struct {
	pid    int
	fields map[string]string
}

func openNotifySocket(cred *syscall.Credential) (*notifySocket, error) {
	dir, err := os.MkdirTemp("", "procmon-notify-")
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil && cred != nil {
		err = shareWithGroup(dir, path, int(cred.Gid))
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
		})
		if cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		conn.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("notify socket: pass credentials: %w", err)
	}
	return &notifySocket{dir: dir, path: path, conn: conn}, nil
}

// shareWithGroup lets workers running with group gid send to the notify
// socket: its directory becomes root:gid 0750 and the socket 0660. Only
// datagrams from a worker's pid count, whoever else is in the group.
func shareWithGroup(dir, sock string, gid int) error {
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o750}, {sock, 0o660}} {
		if err := os.Lchown(p.path, -1, gid); err != nil {
			return err
		}
		if err := os.Chmod(p.path, p.mode); err != nil {
			return err
		}
	}
	return nil
}

// serve reads datagrams until the socket is closed.
func (n *notifySocket) serve(msgs chan<- notifyMsg, done <-chan struct{}) {
	buf := make([]byte, 4096)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msg := notifyMsg{pid: senderPID(oob[:noob]), fields: map[string]string{}}
		for _, line := range bytes.Split(buf[:nb], []byte("\n")) {
			k, v, ok := bytes.Cut(line, []byte("="))
			if ok {
				msg.fields[string(k)] = string(v)
			}
		}
		if msg.pid == 0 {
			if p, err := strconv.Atoi(msg.fields["MAINPID"]); err == nil {
				msg.pid = p
			}
		}
		select {
		case msgs <- msg:
		case <-done:
			return
		}
	}
}

func senderPID(oob []byte) int {
	cms, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, cm := range cms {
		if cred, err := syscall.ParseUnixCredentials(&cm); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

func (n *notifySocket) Close() error {
	err := n.conn.Close()
	os.RemoveAll(n.dir)
	return err
}
