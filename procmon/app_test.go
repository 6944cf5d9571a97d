package procmon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/syncbuf"
)

// appSpec describes a test app: the test binary as its worker, in a
// release directory behind a `current` symlink.
type appSpec struct {
	mode    Mode
	workers int
	scaleTo string // workers = "MIN..MAX" instead of workers
	env     map[string]string
	extra   string // more TOML: stop_timeout, [ready], [heartbeat]
	backoff Backoff
	root    string // the app's directory; "" = t.TempDir()
	exe     string // the worker binary; "" = this test binary
	// offerPort stands in for the kernel's choice of workers' ports.
	offerPort func(taken func(int) bool) (int, error)
}

// testApp is a running Supervisor over real worker processes.
type testApp struct {
	t       *testing.T
	root    string
	release string
	cfgPath string
	listen  string
	spec    appSpec
	sup     *Supervisor
	cancel  context.CancelFunc
	done    chan error
	out     *syncbuf.Buffer
	events  chan Event
}

func newTestApp(t *testing.T, spec appSpec) *testApp {
	t.Helper()
	if spec.workers == 0 {
		spec.workers = 2
	}
	if spec.mode == "" {
		spec.mode = ModeProxy
	}
	root := spec.root
	if root == "" {
		root = t.TempDir()
	}
	a := &testApp{t: t, root: root, spec: spec, cfgPath: filepath.Join(root, "app.toml"), out: &syncbuf.Buffer{}, events: make(chan Event, 100)}
	a.release = a.newRelease("r1")
	a.link("r1")
	if spec.mode != ModeNone {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		a.listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	a.writeConfig(spec.env)
	return a
}

func (a *testApp) newRelease(name string) string {
	dir := filepath.Join(a.root, "releases", name)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		a.t.Fatal(err)
	}
	return dir
}

// link points current at a release the way deploy does: a new symlink
// renamed over the old one.
func (a *testApp) link(name string) {
	tmp := filepath.Join(a.root, "current.tmp")
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(a.root, "releases", name), tmp); err != nil {
		a.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(a.root, "current")); err != nil {
		a.t.Fatal(err)
	}
}

func (a *testApp) writeConfig(env map[string]string) {
	exe, err := os.Executable()
	if err != nil {
		a.t.Fatal(err)
	}
	if a.spec.exe != "" {
		exe = a.spec.exe
	}
	var b strings.Builder
	workers := fmt.Sprint(a.spec.workers)
	if a.spec.scaleTo != "" {
		workers = fmt.Sprintf("%q", a.spec.scaleTo)
	}
	fmt.Fprintf(&b, "name = \"testapp\"\ndir = %q\ncommand = [%q]\nworkers = %s\nmode = %q\n",
		filepath.Join(a.root, "current"), exe, workers, a.spec.mode)
	if a.listen != "" {
		fmt.Fprintf(&b, "listen = %q\n", a.listen)
	}
	fmt.Fprintf(&b, "restart_file = \"tmp/restart.txt\"\nsocket = %q\n", filepath.Join(a.root, "procmon.sock"))
	keys := []string{"PMT_WORKER"}
	env = mergeEnv(map[string]string{"PMT_WORKER": "1"}, env)
	for k := range env {
		if k != "PMT_WORKER" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys[1:])
	b.WriteString("env = {")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %q", k, env[k])
	}
	b.WriteString("}\n")
	if !strings.Contains(a.spec.extra, "stop_timeout") {
		b.WriteString("stop_timeout = \"10s\"\n")
	}
	b.WriteString(a.spec.extra)
	if !strings.Contains(a.spec.extra, "[ready]") {
		// min_uptime shorter than its 1s default: every reload of these
		// tests still holds the old generation for a window (settle.go)
		b.WriteString("\n[ready]\ntimeout = \"20s\"\nmin_uptime = \"200ms\"\n")
	}
	if err := os.WriteFile(a.cfgPath+".tmp", []byte(b.String()), 0o644); err != nil {
		a.t.Fatal(err)
	}
	if err := os.Rename(a.cfgPath+".tmp", a.cfgPath); err != nil {
		a.t.Fatal(err)
	}
}

func mergeEnv(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// start runs the supervisor and waits until the first generation is ready.
func (a *testApp) start() *testApp {
	a.t.Helper()
	a.launch()
	a.waitState(StateReady, 20*time.Second)
	return a
}

// launch runs the supervisor without waiting for any state.
func (a *testApp) launch() {
	a.t.Helper()
	cfg, err := LoadConfig(a.cfgPath)
	if err != nil {
		a.t.Fatal(err)
	}
	logw := io.Writer(a.out)
	sup, err := New(cfg, Options{
		Output:   a.out,
		Logger:   slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff:  a.spec.backoff,
		Debounce: 50 * time.Millisecond,
		OnEvent: func(e Event) {
			select {
			case a.events <- e:
			default:
			}
		},
	})
	if err != nil {
		a.t.Fatal(err)
	}
	a.sup = sup
	sup.offerPort = a.spec.offerPort
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.done = make(chan error, 1)
	go func() { a.done <- sup.Run(ctx) }()
	a.t.Cleanup(a.stop)
}

// stop shuts the supervisor down and waits for Run to return.
func (a *testApp) stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil {
			a.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		a.sup.Force()
		a.t.Errorf("Run did not return 30s after cancel\n%s", a.out)
		<-a.done
	}
	if a.t.Failed() {
		a.t.Logf("procmon output:\n%s", a.out)
	}
}

func (a *testApp) waitState(want AppState, timeout time.Duration) Status {
	a.t.Helper()
	return a.waitStatus(timeout, "state "+want.String(), func(st Status) bool { return st.State == want })
}

func (a *testApp) waitStatus(timeout time.Duration, what string, ok func(Status) bool) Status {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := a.sup.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out after %s waiting for %s; status: %+v\noutput:\n%s", timeout, what, st, a.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// touch writes the restart file as `touch` would.
func (a *testApp) touch() {
	a.t.Helper()
	p := filepath.Join(a.root, "current", "tmp", "restart.txt")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	f.Close()
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		a.t.Fatal(err)
	}
}

func (a *testApp) url(path string) string { return "http://" + a.listen + path }

// get does one request; it returns the status, the X-Worker header and body.
func get(client *http.Client, url string) (int, string, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Worker"), string(body), err
}

// pidAlive says whether a process (not a zombie) exists.
func pidAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] != "Z"
}

func httpClient() *http.Client { return &http.Client{Timeout: 20 * time.Second} }
