package sshtest

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestLinkDelaysAndLimits: through a Link, a one-byte echo takes at least
// the round trip (2 × Delay) and 200 kB at least 200 kB / Rate, and every
// byte arrives, in order.
func TestLinkDelaysAndLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	const delay, rate = 25 * time.Millisecond, 1 << 20
	l := NewLink(t, ln.Addr().String(), LinkOptions{Delay: delay, Rate: rate})
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*delay {
		t.Errorf("echo of one byte took %v, less than the round trip %v", rtt, 2*delay)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16)
	start = time.Now()
	go func() { _, _ = c.Write(data) }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if took, min := time.Since(start), time.Duration(float64(len(data))/rate*float64(time.Second)); took < min {
		t.Errorf("200 kB took %v, less than %v at %d B/s", took, min, rate)
	}
	if !bytes.Equal(got, data) {
		t.Error("the bytes that came back differ")
	}
}
