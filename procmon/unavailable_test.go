package procmon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWaitingSocketModeAnswers503: in socket mode nobody accepts on the
// shared socket before the first generation runs; procmon answers 503
// itself instead of leaving clients in the listen backlog, and stops
// before the workers take the socket.
func TestWaitingSocketModeAnswers503(t *testing.T) {
	a := newTestApp(t, appSpec{mode: ModeSocket, workers: 2}).withoutCurrent()
	a.launch()
	a.waitState(StateWaiting, 10*time.Second)
	client := httpClient()
	client.Timeout = 5 * time.Second
	if code, _, body, err := get(client, a.url("/")); code != http.StatusServiceUnavailable || body != waitingBody+"\n" {
		t.Fatalf("GET while waiting: %d %q %v, want 503", code, body, err)
	}
	a.link("r1")
	r, err := a.sup.Reload(context.Background())
	if err != nil || !r.OK || r.Generation != 1 {
		t.Fatalf("reload: %+v %v", r, err)
	}
	for i := range 20 {
		if code, _, body, err := get(client, a.url("/")); code != 200 || !strings.Contains(body, "gen=1 ") {
			t.Fatalf("GET %d after the first generation started: %d %q %v", i, code, body, err)
		}
	}
}

// TestUnavailableStopsAndRestoresBlocking: the 503 answers of socket mode
// leave the shared socket in blocking mode for the workers when they stop,
// and nobody in procmon accepts after that.
func TestUnavailableStopsAndRestoresBlocking(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	f, err := listenerFile(l)
	must(t, err)
	defer f.Close()
	u, err := serveUnavailable(f, waitingBody, slog.New(slog.DiscardHandler))
	must(t, err)
	if code, _, body, err := get(httpClient(), "http://"+addr+"/"); code != http.StatusServiceUnavailable || body != waitingBody+"\n" {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	must(t, u.stop(f))
	if flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err != nil || flags&unix.O_NONBLOCK != 0 {
		t.Fatalf("socket left non-blocking (flags %#x) after stop: %v", flags, err)
	}
	c, err := net.Dial("tcp", addr) // lands in the backlog: nobody accepts
	must(t, err)
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); n != 0 || !os.IsTimeout(err) {
		t.Fatalf("something answered after stop: %d bytes, %v", n, err)
	}
}
