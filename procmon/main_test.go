package procmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
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
//	PMT_CRASH_ON     once it listens and said it is ready, exit 4 as soon as
//	                 a file of this name exists in the dir (an app that
//	                 crashes on a database it cannot reach, at the moment
//	                 the test chooses)
//	PMT_IGNORE_TERM  "1": ignore SIGTERM
//	PMT_CHILD        "1": start a `sleep` child in the process group
//	PMT_NO_PORT      "1": a job without a port (mode none): wait for SIGTERM
//	PMT_LISTEN_ON    listen there, not on 127.0.0.1:$PORT ("$PORT" in it is
//	                 the worker's PORT): an app that ignores $PORT
//	PMT_RENDER_ROWS  N > 0: GET / renders an HTML page of an N-row table with
//	                 html/template (see pageRenderer), like a light app page
//
// SIGUSR1 makes a serving worker hang: from then on every request it
// accepts waits, unanswered, until its client gives up (a deadlocked
// app). Only that process hangs; a worker started in its place answers.
// GET /health answers 500 while a file "unhealthy" exists in the dir;
// GET /whoami names the worker's uid, gid, HOME and USER;
// GET /slow?d=2s sleeps d; GET /events is an endless event stream (see
// serveEvents); every answer names its generation, worker and pid.
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
	var draining, hung atomic.Bool
	hangOnSignal(&hung)
	handler := workerHandler()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hung.Load() {
			<-r.Context().Done()
			return
		}
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
	if name := os.Getenv("PMT_CRASH_ON"); name != "" {
		go func() {
			for {
				if _, err := os.Stat(name); err == nil {
					fmt.Println("crashing after ready, as asked")
					os.Exit(4)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
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

// hangOnSignal sets hung on the first SIGUSR1.
func hangOnSignal(hung *atomic.Bool) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		fmt.Println("hanging every request, as asked")
		hung.Store(true)
	}()
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
	if on := os.Getenv("PMT_LISTEN_ON"); on != "" {
		return net.Listen("tcp", strings.ReplaceAll(on, "$PORT", port))
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

// workerHandler serves the test worker's paths (see testWorker).
func workerHandler() http.Handler {
	label := fmt.Sprintf("gen=%s worker=%s pid=%d", os.Getenv("PROCMON_GENERATION"), os.Getenv("WORKER_ID"), os.Getpid())
	delay, _ := time.ParseDuration(os.Getenv("PMT_REQ_DELAY"))
	rows, _ := strconv.Atoi(os.Getenv("PMT_RENDER_ROWS"))
	page := newPageRenderer(rows, label)
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
		if r.URL.Path == "/whoami" {
			fmt.Fprintf(w, "uid=%d gid=%d home=%s user=%s\n", os.Getuid(), os.Getgid(), os.Getenv("HOME"), os.Getenv("USER"))
			return
		}
		if r.URL.Path == "/events" {
			serveEvents(w, r, label)
			return
		}
		if r.URL.Path == "/echo" {
			fmt.Fprintf(w, "xff=%s proto=%s\n", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
			return
		}
		if page != nil && r.URL.Path == "/" {
			page.ServeHTTP(w, r)
			return
		}
		wd, _ := os.Getwd()
		fmt.Fprintf(w, "ok %s dir=%s\n", label, filepath.Base(wd))
	})
}

// serveEvents streams server-sent events until the client leaves (at
// most a minute), each written in two halves 30 ms apart, so that a
// proxy that cuts the stream at a random moment cuts inside an event.
func serveEvents(w http.ResponseWriter, r *http.Request, label string) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	end := time.After(time.Minute)
	for i := 0; ; i++ {
		for _, part := range []string{fmt.Sprintf("id: %d\ndata: %s one\n", i, label), "data: two\n\n"} {
			io.WriteString(w, part)
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-end:
				return
			case <-time.After(30 * time.Millisecond):
			}
		}
	}
}

// pageRenderer is the worker's app-like page (PMT_RENDER_ROWS): an HTML
// product list rendered per request with html/template from rows held in
// memory, the template parsed once at start. Prices and dates are
// formatted, and every field escaped, on each render, as an app's view
// layer would; the page is buffered and sent with its Content-Length.
type pageRenderer struct {
	tmpl  *template.Template
	label string
	rows  []pageRow
}

// pageRow is one line of the rendered table.
type pageRow struct {
	ID      int
	Name    string
	Cents   int
	Created time.Time
}

const pageTemplate = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Products ({{len .Rows}})</title></head>
<body><h1>Products</h1>
<table>
<thead><tr><th>#</th><th>Name</th><th>Price</th><th>Added</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td>{{.ID}}</td><td><a href="/products/{{.ID}}">{{.Name}}</a></td><td>{{price .Cents}}</td><td>{{.Created.Format "2 Jan 2006"}}</td></tr>
{{end}}</tbody>
</table>
<footer>{{.Label}}</footer>
</body></html>
`

// newPageRenderer parses the page's template and makes n rows of data;
// nil when n is not positive (no page: GET / answers the plain "ok" line).
func newPageRenderer(n int, label string) *pageRenderer {
	if n <= 0 {
		return nil
	}
	funcs := template.FuncMap{"price": func(cents int) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }}
	p := &pageRenderer{tmpl: template.Must(template.New("page").Funcs(funcs).Parse(pageTemplate)), label: label}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		p.rows = append(p.rows, pageRow{
			ID:      i + 1,
			Name:    fmt.Sprintf("Widget <%d> & Co's \"model\" %c", i+1, 'A'+i%26),
			Cents:   199 + i*37%10000,
			Created: start.Add(time.Duration(i) * 26 * time.Hour),
		})
	}
	return p
}

// ServeHTTP renders the page into a buffer, then sends it.
func (p *pageRenderer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	data := struct {
		Rows  []pageRow
		Label string
	}{p.rows, p.label}
	if err := p.tmpl.Execute(&buf, data); err != nil {
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}
