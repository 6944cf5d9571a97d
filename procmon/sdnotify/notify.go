package sdnotify

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends sd_notify messages to one socket. The zero value and a
// Notifier built from an empty socket name send nothing and report no error.
type Notifier struct {
	socket string
}

// NewNotifier returns a Notifier for the socket named socket, as found in
// $NOTIFY_SOCKET: a filesystem path or an abstract name starting with '@'.
// An empty name gives a no-op Notifier.
func NewNotifier(socket string) *Notifier {
	return &Notifier{socket: socket}
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET as read through getenv
// (os.Getenv in production).
func FromEnv(getenv func(string) string) *Notifier {
	return NewNotifier(getenv("NOTIFY_SOCKET"))
}

// Enabled reports whether messages go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Socket returns the socket name the Notifier sends to ("" when disabled).
func (n *Notifier) Socket() string {
	if n == nil {
		return ""
	}
	return n.socket
}

// Send sends the assignments (each "KEY=VALUE") as one datagram. It does
// nothing when the Notifier is disabled.
func (n *Notifier) Send(assignments ...string) error {
	if !n.Enabled() || len(assignments) == 0 {
		return nil
	}
	for _, a := range assignments {
		if !strings.Contains(a, "=") {
			return fmt.Errorf("sd_notify: %q is not KEY=VALUE", a)
		}
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify to %s: %w", n.socket, err)
	}
	defer conn.Close()
	// A receiver that stops reading fills its queue (10 datagrams by
	// default); a blocked send must not hang the caller's loop.
	conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	if _, err := conn.Write([]byte(strings.Join(assignments, "\n"))); err != nil {
		return fmt.Errorf("sd_notify to %s: %w", n.socket, err)
	}
	return nil
}

// sendTimeout bounds one send to a receiver whose queue is full.
const sendTimeout = time.Second

// Ready tells the service manager that startup (or a reload) finished.
func (n *Notifier) Ready() error { return n.Send("READY=1") }

// Reloading tells the service manager that a reload began. systemd wants
// MONOTONIC_USEC with it (CLOCK_MONOTONIC at the time of the message).
func (n *Notifier) Reloading() error {
	if !n.Enabled() {
		return nil
	}
	usec, err := MonotonicUsec()
	if err != nil {
		return err
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatUint(usec, 10))
}

// Stopping tells the service manager that shutdown began.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Status sets the one-line status shown by `systemctl status`. Newlines in
// line are replaced by spaces, since the protocol is line based.
func (n *Notifier) Status(line string) error {
	return n.Send("STATUS=" + strings.ReplaceAll(line, "\n", " "))
}

// Watchdog sends one watchdog keep-alive.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// MonotonicUsec returns CLOCK_MONOTONIC in microseconds, the clock systemd
// compares MONOTONIC_USEC against.
func MonotonicUsec() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("read monotonic clock: %w", err)
	}
	return uint64(ts.Sec)*uint64(time.Second/time.Microsecond) + uint64(ts.Nsec)/uint64(time.Microsecond), nil
}
