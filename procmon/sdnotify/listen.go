package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// maxDatagram bounds one received message; sd_notify messages are tiny.
const maxDatagram = 64 << 10

// Message is one received sd_notify datagram.
type Message struct {
	// Fields holds the KEY=VALUE assignments; a key sent twice keeps its
	// last value. Lines without '=' are ignored, as systemd does.
	Fields map[string]string
	// Keys lists the keys in the order they were sent.
	Keys []string
	// PID is the sender's process id from its kernel credentials; zero when
	// the kernel attached none.
	PID int
}

// Get returns the value sent for key, and whether it was sent.
func (m Message) Get(key string) (string, bool) {
	v, ok := m.Fields[key]
	return v, ok
}

// ParseMessage splits a datagram into its assignments.
func ParseMessage(data []byte) Message {
	m := Message{Fields: map[string]string{}}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		if _, seen := m.Fields[k]; !seen {
			m.Keys = append(m.Keys, k)
		}
		m.Fields[k] = v
	}
	return m
}

// Listener receives sd_notify datagrams on a unix socket.
type Listener struct {
	conn *net.UnixConn
	path string
}

// Listen binds a datagram socket at path (a filesystem path, or an abstract
// name starting with '@') for children to use as NOTIFY_SOCKET. A leftover
// socket file at path is replaced; any other kind of file there is an error.
func Listen(path string) (*Listener, error) {
	if path == "" {
		return nil, errors.New("notify socket: empty path")
	}
	if !strings.HasPrefix(path, "@") {
		if err := removeStaleSocket(path); err != nil {
			return nil, err
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	if err := passCredentials(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket %s: enable SO_PASSCRED: %w", path, err)
	}
	return &Listener{conn: conn, path: path}, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("notify socket %s: a non-socket file is in the way (remove it or pick another path)", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("notify socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

func passCredentials(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Path returns the socket name to hand to children as NOTIFY_SOCKET.
func (l *Listener) Path() string { return l.path }

// Receive waits for the next datagram, until ctx ends or the Listener is
// closed.
func (l *Listener) Receive(ctx context.Context) (Message, error) {
	if err := l.conn.SetReadDeadline(time.Time{}); err != nil {
		return Message{}, fmt.Errorf("notify socket %s: %w", l.path, err)
	}
	stop := context.AfterFunc(ctx, func() { l.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, maxDatagram)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
	n, oobn, _, _, err := l.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		if ctx.Err() != nil {
			return Message{}, ctx.Err()
		}
		return Message{}, fmt.Errorf("notify socket %s: %w", l.path, err)
	}
	m := ParseMessage(buf[:n])
	m.PID = senderPID(oob[:oobn])
	return m, nil
}

func senderPID(oob []byte) int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for i := range msgs {
		if cred, err := syscall.ParseUnixCredentials(&msgs[i]); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

// Close stops receiving and removes the socket file (abstract names leave
// nothing behind).
func (l *Listener) Close() error {
	err := l.conn.Close()
	if !strings.HasPrefix(l.path, "@") {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}
