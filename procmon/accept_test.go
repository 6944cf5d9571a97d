package procmon

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireNode returns node's path; make test (DEPLOY_REQUIRE_SSHD=1)
// fails without it, a plain go test skips.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("DEPLOY_REQUIRE_SSHD") != "" {
			t.Fatalf("node is not on PATH: scripts/deps.sh installs it")
		}
		t.Skip("node is not installed")
	}
	return node
}

// setCommand rewrites the test app's command line.
func (a *testApp) setCommand(argv ...string) {
	a.t.Helper()
	b, err := os.ReadFile(a.cfgPath)
	if err != nil {
		a.t.Fatal(err)
	}
	quoted := make([]string, len(argv))
	for i, w := range argv {
		quoted[i] = strconv.Quote(w)
	}
	re := regexp.MustCompile(`(?m)^command = \[.*\]$`)
	out := re.ReplaceAllLiteral(b, []byte("command = ["+strings.Join(quoted, ", ")+"]"))
	if err := os.WriteFile(a.cfgPath, out, 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// TestSocketModeNodeIsReady: Node core cannot send READY=1, so socket
// mode's default readiness is that the worker accepts on the shared
// socket; the example Node app becomes ready and serves.
func TestSocketModeNodeIsReady(t *testing.T) {
	node := requireNode(t)
	server, _ := filepath.Abs("../examples/node-hello/server.js")
	a := newTestApp(t, appSpec{mode: ModeSocket, workers: 2})
	a.setCommand(node, server)
	a.start()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(a.url("/"))
	if err != nil {
		t.Fatalf("GET /: %v\n%s", err, a.out)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
}

// TestSocketModeWrapperIsNamed: a command that does not exec the app (here
// sh -c '…; exit') keeps the socket from it: LISTEN_PID is the wrapper's,
// so the app listens elsewhere. Such a worker is never ready, and the
// reason names the wrapper.
func TestSocketModeWrapperIsNamed(t *testing.T) {
	node := requireNode(t)
	server, _ := filepath.Abs("../examples/node-hello/server.js")
	for _, check := range []string{"accept", "notify"} {
		t.Run(check, func(t *testing.T) {
			port, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			// notify's start script runs python3 first, whose start took
			// over 3 s under make test's load (no READY=1 in time: a crash
			// loop, not the error this test is about)
			timeout := map[string]string{"accept": "3s", "notify": "10s"}[check]
			a := newTestApp(t, appSpec{mode: ModeSocket, workers: 1, env: map[string]string{"PORT": strconv.Itoa(port)},
				extra: "[ready]\ncheck = \"" + check + "\"\ntimeout = \"" + timeout + "\"\n"})
			script := node + " " + server + "; exit $?"
			if check == "notify" { // the start script says READY=1, as systemd-notify in it would
				send := `import os, socket; a = os.environ["NOTIFY_SOCKET"]; a = "\0" + a[1:] if a.startswith("@") else a; ` +
					`socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", a)`
				script = "python3 -c '" + send + "'; " + script
			}
			a.setCommand("/bin/sh", "-c", script)
			a.launch()
			deadline := time.Now().Add(40 * time.Second)
			for !strings.Contains(a.out.String(), "does not accept") && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			out := a.out.String()
			if !strings.Contains(out, "holds it but does not accept") || !strings.Contains(out, "/bin/sh -c") ||
				!strings.Contains(out, "a wrapper that does not exec the app") {
				t.Fatalf("no readiness error naming the wrapper:\n%s", out)
			}
			if st := a.sup.Status(); st.State == StateReady {
				t.Fatalf("state %s: a worker that never accepts on the shared socket counted as ready", st.State)
			}
		})
	}
}
