package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startUpgradeWorker runs a worker that answers an upgrade request with
// answer and then, after a 101, echoes each line it reads as "echo: …".
func startUpgradeWorker(t *testing.T, answer string, saw chan<- http.Header) *Backend {
	return startConnWorker(t, "upgrade", 10, func(nc net.Conn, br *bufio.Reader) {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		saw <- r.Header
		io.WriteString(nc, answer)
		for strings.HasPrefix(answer, "HTTP/1.1 101") {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			io.WriteString(nc, "echo: "+line)
		}
	})
}

// waitIdleBackend waits until nothing is counted on b.
func waitIdleBackend(t *testing.T, b *Backend) {
	t.Helper()
	for deadline := time.Now().Add(testWait); b.InFlight() != 0 || b.LongLived() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight and %d long-lived connections after the client left, want 0",
				b.InFlight(), b.LongLived())
		}
	}
}

// TestProxyUpgradeOtherProtocol: a worker that switches to another
// protocol than the first the client named (`Upgrade: websocket, foo`
// answered `Upgrade: foo`) is passed on as it answered; the bytes the
// client sent right after its head arrive; and once the client leaves
// nothing stays counted in flight. Through httputil.ReverseProxy this
// answer leaked the worker's connection and its in-flight count, so the
// next reload waited the whole stop_timeout.
func TestProxyUpgradeOtherProtocol(t *testing.T) {
	saw := make(chan http.Header, 1)
	b := startUpgradeWorker(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n", saw)
	f := startFront(t)
	f.p.Set([]*Backend{b})
	c := f.dial(t)
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket, foo\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nearly\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "foo" {
		t.Fatalf("answer %v, %v; want 101 Upgrade: foo", resp, err)
	}
	h := <-saw
	if h.Get("Upgrade") != "websocket, foo" || h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("the worker saw %v", h)
	}
	if line, err := c.br.ReadString('\n'); line != "echo: early\n" {
		t.Fatalf("the bytes after the head: %q, %v", line, err)
	}
	if n := b.LongLived(); n != 1 {
		t.Errorf("%d long-lived connections counted, want 1", n)
	}
	c.send("later\n")
	if line, err := c.br.ReadString('\n'); line != "echo: later\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}
	c.nc.Close()
	waitIdleBackend(t, b)
}

// TestProxyUpgradeDeclined: a worker that answers an upgrade request
// without switching has its answer relayed, and the connection ends.
func TestProxyUpgradeDeclined(t *testing.T) {
	saw := make(chan http.Header, 1)
	b := startUpgradeWorker(t, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\nno", saw)
	f := startFront(t)
	f.p.Set([]*Backend{b})
	c := f.dial(t)
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, body := c.read("GET")
	if resp.StatusCode != 426 || body != "no" || !resp.Close {
		t.Fatalf("answer %d %q close %v; want 426 \"no\" and close", resp.StatusCode, body, resp.Close)
	}
	c.expectEOF()
	waitIdleBackend(t, b)
}

// TestBackendDrainSpreadsCloses: a drain closes a retired worker's
// upgraded connections spread over its window, not all at once, and each
// client sees its connection end.
func TestBackendDrainSpreadsCloses(t *testing.T) {
	saw := make(chan http.Header, 4)
	b := startUpgradeWorker(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", saw)
	f := startFront(t)
	f.p.Set([]*Backend{b})
	var clients []*rawClient
	for range 4 {
		c := f.dial(t)
		c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		if resp, err := http.ReadResponse(c.br, nil); err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v, %v", resp, err)
		}
		clients = append(clients, c)
	}
	for deadline := time.Now().Add(testWait); b.LongLived() != 4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d long-lived connections, want 4", b.LongLived())
		}
	}
	b.Retire()
	b.Drain(2 * time.Second) // closes at 0.5, 1, 1.5 and 2 s
	time.Sleep(250 * time.Millisecond)
	if n := b.LongLived(); n < 3 {
		t.Fatalf("%d of 4 connections open 0.25 s into a 2 s drain: closed at once, not spread", n)
	}
	for _, c := range clients {
		c.expectEOF()
	}
	waitIdleBackend(t, b)
}
