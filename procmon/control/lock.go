package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// maxSocketPath is the longest path a unix socket address holds (sun_path
// less the terminating NUL), leaving room for the temporary bind name.
const maxSocketPath = 107 - len(".tmp-4194304")

// AlreadyRunningError is returned by NewServer when another daemon holds
// the app's lock.
type AlreadyRunningError struct {
	// App is the app's name.
	App string
	// PID is the running daemon's pid; 0 when the lock file did not say.
	PID int
	// Lock is the lock file's path.
	Lock string
}

// Error implements error.
func (e *AlreadyRunningError) Error() string {
	pid := "unknown pid"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("procmon for %s already runs, %s (lock %s)", e.App, pid, e.Lock)
}

// Hint implements HintError.
func (e *AlreadyRunningError) Hint() string {
	return "use 'procmon reload' or 'procmon status' to talk to it, or stop it first"
}

// instanceLock is the flock that makes one daemon per socket.
type instanceLock struct {
	f *os.File
}

// lockInstance takes the exclusive lock at path and writes our pid into it.
func lockInstance(path, app string) (*instanceLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			data, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			return nil, &AlreadyRunningError{App: app, PID: pid, Lock: path}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// One err for both steps: a failed pid write must not pass unnoticed
	// (it was shadowed inside the if before).
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid to lock %s: %w", path, err)
	}
	return &instanceLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a third
// process lock a fresh inode while a second still waits on the old one.
func (l *instanceLock) release() error {
	return l.f.Close()
}

// clearStaleSocket removes a socket file that nobody accepts on. It refuses
// when something answers or when the file is not a socket.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control socket %s: a file that is not a socket is in the way; remove it or set another socket path", path)
	}
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("control socket %s: another process accepts connections on it without holding its lock; stop that process first", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale control socket %s: %w", path, err)
	}
	return nil
}

// listenSocket binds a unix socket at path with mode 0600, or with gid >
// 0 as group gid with mode 0660: it binds a temporary name, sets its group
// and mode, then renames it into place.
func listenSocket(path string, gid int) (*net.UnixListener, error) {
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	mode := os.FileMode(0o600)
	if gid > 0 {
		mode = 0o660
		if err := os.Lchown(tmp, -1, gid); err != nil {
			ln.Close()
			os.Remove(tmp)
			return nil, hint.Wrap(fmt.Errorf("control socket %s: give it to group %d: %w", path, gid, err), "procmon must run as root or be a member of that group")
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: chmod: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}
