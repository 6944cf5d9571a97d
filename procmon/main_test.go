package procmon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the test worker: with PMT_WORKER=1 in its
// environment the test binary is an HTTP app that procmon supervises.
func TestMain(m *testing.M) {
	if os.Getenv("PMT_WORKER") == "1" {
		os.Exit(testWorker())
	}
	if path := os.Getenv("PMT_SUPERVISOR"); path != "" {
		os.Exit(testSupervisor(path))
	}
	os.Exit(m.Run())
}

// The test worker's knobs (environment variables):
//
//	PMT_BOOT_DELAY   wait this long before listening (a duration)
//	PMT_REQ_DELAY    wait this long in every request
//	PMT_NEVER_READY  "1": never listen, never notify
//	PMT_CRASH_AT_BOOT "1": exit 3 after the boot delay (also: a file "crash" in the dir)
//	PMT_IGNORE_TERM  "1": ignore SIGTERM
//	PMT_CHILD        "1": start a `sleep` child in the process group
//	PMT_NO_PORT      "1": a job without a port (mode none): wait for SIGTERM
//
// GET /health answers 500 while a file "unhealthy" exists in the dir;
// GET /slow?d=2s sleeps d; every answer names its generation, worker and pid.
func testWorker() int {
	if os.Getenv("PMT_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	if os.Getenv("PMT_CHILD") == "1" {
		if err := startSleepChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 4
		}
	}
	boot, _ := time.ParseDuration(os.Getenv("PMT_BOOT_DELAY"))
	time.Sleep(boot)
	if _, err := os.Stat("crash"); err == nil || os.Getenv("PMT_CRASH_AT_BOOT") == "1" {
		fmt.Println("crashing at boot, as asked")
		return 3
	}
	if os.Getenv("PMT_NEVER_READY") == "1" {
		select {}
	}
	if os.Getenv("PMT_NO_PORT") == "1" {
		notifyReady()
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		<-term
		return 0
	}
	l, err := workerListener()
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 2
	}
	var conns sync.Map // open connections → whether the first request is not read yet
	var draining atomic.Bool
	handler := workerHandler()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		handler.ServeHTTP(w, r)
	}), ConnState: func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateClosed, http.StateHijacked:
			conns.Delete(c)
		default:
			conns.Store(c, s == http.StateNew)
		}
	}}
	served := make(chan struct{})
	go func() { srv.Serve(l); close(served) }()
	notifyReady()
	fmt.Printf("worker %s of generation %s listening\n", os.Getenv("WORKER_ID"), os.Getenv("PROCMON_GENERATION"))
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGINT)
	if os.Getenv("PMT_IGNORE_TERM") != "1" {
		signal.Notify(term, syscall.SIGTERM) // (Notify would undo signal.Ignore)
	}
	<-term
	draining.Store(true)
	gracefulStop(srv, l, served, &conns)
	return 0
}

// gracefulStop is how a worker sharing a socket (socket mode) should stop,
// once its handler answers with "Connection: close" so that keep-alive
// clients reconnect (to the new generation): stop accepting, give the open
// connections a moment to finish, then Shutdown. http.Server.Shutdown
// alone drops a connection accepted just before it whose request arrives
// just after it, and closes idle keep-alive connections a client may be
// writing to at that very moment.
func gracefulStop(srv *http.Server, l net.Listener, served <-chan struct{}, conns *sync.Map) {
	l.Close()
	<-served
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		n := 0
		conns.Range(func(any, any) bool { n++; return true })
		if n == 0 {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// testSupervisor runs procmon on the config at path in this process, so
// that a test can kill it without mercy.
func testSupervisor(path string) int {
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sup, err := New(cfg, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := sup.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func startSleepChild() error {
	cmd := exec.Command("sleep", "300")
	return cmd.Start()
}

// workerListener is fd 3 in socket mode (checking LISTEN_PID is ours, as
// sd_listen_fds does), else 127.0.0.1:$PORT.
func workerListener() (net.Listener, error) {
	if os.Getenv("LISTEN_FDS") == "1" {
		if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
			return nil, fmt.Errorf("LISTEN_PID=%s is not my pid %d", os.Getenv("LISTEN_PID"), os.Getpid())
		}
		return net.FileListener(os.NewFile(3, "listener"))
	}
	port := os.Getenv("PORT")
	if port == "" {
		return nil, errors.New("no PORT")
	}
	return net.Listen("tcp", "127.0.0.1:"+port)
}

func notifyReady() {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
		return
	}
	defer c.Close()
	c.Write([]byte("READY=1\nSTATUS=serving"))
}

func workerHandler() http.Handler {
	label := fmt.Sprintf("gen=%s worker=%s pid=%d", os.Getenv("PROCMON_GENERATION"), os.Getenv("WORKER_ID"), os.Getpid())
	delay, _ := time.ParseDuration(os.Getenv("PMT_REQ_DELAY"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		if d, err := time.ParseDuration(r.URL.Query().Get("d")); err == nil && r.URL.Path == "/slow" {
			time.Sleep(d)
		}
		w.Header().Set("X-Worker", label)
		if r.URL.Path == "/health" {
			if _, err := os.Stat("unhealthy"); err == nil {
				http.Error(w, "unhealthy", http.StatusInternalServerError)
				return
			}
		}
		if r.URL.Path == "/echo" {
			fmt.Fprintf(w, "xff=%s proto=%s\n", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
			return
		}
		wd, _ := os.Getwd()
		fmt.Fprintf(w, "ok %s dir=%s\n", label, filepath.Base(wd))
	})
}
