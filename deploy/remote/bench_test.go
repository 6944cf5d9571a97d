package remote_test

import (
	"context"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

// BenchmarkDialRunClose is the fixed SSH cost of a deploy to one host:
// connect, handshake, log in, run one trivial command, close.
func BenchmarkDialRunClose(b *testing.B) {
	b.Setenv("SSH_AUTH_SOCK", "")
	s := sshtest.Start(b, sshtest.Options{})
	home := sshtest.FakeHome(b, "", s)
	var st remote.Stats
	o := remote.Options{HomeDir: home, Stats: &st}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := remote.Dial(ctx, remote.Target{Host: s.Host(), Port: s.Port()}, o)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Run(ctx, "true", nil, nil, nil); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(st.Connections.Load())/float64(b.N), "conns/op")
	b.ReportMetric(float64(st.Sessions.Load())/float64(b.N), "sessions/op")
}

// BenchmarkRun is the cost of one more step on an open connection: a new
// session running a trivial command (the login shell's startup included).
func BenchmarkRun(b *testing.B) {
	b.Setenv("SSH_AUTH_SOCK", "")
	s := sshtest.Start(b, sshtest.Options{})
	home := sshtest.FakeHome(b, "", s)
	var st remote.Stats
	ctx := context.Background()
	c, err := remote.Dial(ctx, remote.Target{Host: s.Host(), Port: s.Port()}, remote.Options{HomeDir: home, Stats: &st})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Run(ctx, "true", nil, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.Connections.Load()), "conns")
}
