package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// listenFD is the first socket passed under the LISTEN_FDS protocol.
const listenFD = 3

// listen returns the socket passed by procmon or systemd (LISTEN_FDS=1 and
// LISTEN_PID = our pid: fd 3), else a fresh listener on HOST:PORT.
func listen() (net.Listener, string, error) {
	if fds := os.Getenv("LISTEN_FDS"); fds != "" && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		if fds != "1" {
			return nil, "", fmt.Errorf("LISTEN_FDS=%s: go-hello serves exactly one socket; pass one (procmon's mode = \"socket\" does)", fds)
		}
		// Children must not take the socket for their own.
		for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
			os.Unsetenv(k)
		}
		f := os.NewFile(listenFD, "listen-fd-3")
		defer f.Close() // FileListener keeps its own duplicate
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, "", fmt.Errorf("use fd %d from LISTEN_FDS: %w (is it a listening TCP socket?)", listenFD, err)
		}
		return ln, fmt.Sprintf("fd %d %s (socket activation)", listenFD, ln.Addr()), nil
	}
	host := envOr("HOST", "127.0.0.1")
	port := envOr("PORT", "8080")
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, "", fmt.Errorf("PORT=%q is not a port number: set PORT to 1-65535", port)
	}
	addr := net.JoinHostPort(host, port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w (set PORT to a free port)", addr, err)
	}
	return ln, ln.Addr().String(), nil
}

// notify sends one sd_notify state ("READY=1") to $NOTIFY_SOCKET, if set.
// A leading '@' names an abstract socket, which Go's net package handles.
func notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return fmt.Errorf("NOTIFY_SOCKET=%q: want an absolute path or @abstract name", path)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %s: %w", state, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify %s: %w", state, err)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
