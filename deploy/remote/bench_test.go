package remote_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

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

// BenchmarkControlMaster is a command's whole cost (Dial, Run "true",
// Close) with the user's ssh master running (ssh_config ControlPath),
// through it and directly (the same host under an alias without
// ControlPath), alternated in pairs: ms-master, ms-direct and their
// ratio's median, min and max over the pairs.
func BenchmarkControlMaster(b *testing.B) {
	b.Setenv("SSH_AUTH_SOCK", "")
	requireSSHB(b)
	s := sshtest.Start(b, sshtest.Options{})
	dir, err := os.MkdirTemp("", "cm") // a socket's path has at most 107 bytes
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	home := sshtest.FakeHome(b, fmt.Sprintf("Host web direct\n\tHostName 127.0.0.1\n\tPort %d\n\tUser %s\nHost web\n\tControlPath %s/%%C\n",
		s.Port(), s.User(), dir), s)
	ssh := func(args ...string) *exec.Cmd {
		return exec.Command("ssh", append([]string{"-F", filepath.Join(home, ".ssh", "config"), "-o", "BatchMode=yes",
			"-i", filepath.Join(home, ".ssh", "id_ed25519"), "-o", "UserKnownHostsFile=" + filepath.Join(home, ".ssh", "known_hosts")}, args...)...)
	}
	if out, err := ssh("-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-N", "-f", "web").CombinedOutput(); err != nil {
		b.Fatalf("start the ssh master: %v\n%s", err, out)
	}
	b.Cleanup(func() { _ = ssh("-O", "exit", "web").Run() })
	o := remote.Options{HomeDir: home}
	ctx := context.Background()
	once := func(host string) time.Duration {
		start := time.Now()
		c, err := remote.Dial(ctx, remote.Target{Host: host}, o)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Run(ctx, "true", nil, nil, nil); err != nil {
			b.Fatal(err)
		}
		c.Close()
		return time.Since(start)
	}
	once("web")
	once("direct")
	var master, direct []time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range 10 {
			m, d := once("web"), once("direct")
			master, direct = append(master, m), append(direct, d)
			ratios = append(ratios, float64(m)/float64(d))
		}
	}
	b.StopTimer()
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Millisecond)
	}
	slices.Sort(ratios)
	b.ReportMetric(median(master), "ms-master")
	b.ReportMetric(median(direct), "ms-direct")
	b.ReportMetric(ratios[len(ratios)/2], "master/direct")
	b.ReportMetric(ratios[0], "master/direct-min")
	b.ReportMetric(ratios[len(ratios)-1], "master/direct-max")
}

func requireSSHB(b *testing.B) {
	if _, err := exec.LookPath("ssh"); err == nil {
		return
	}
	if os.Getenv(sshtest.RequireEnv) == "1" {
		b.Fatal("ssh (openssh-client) not found")
	}
	b.Skip("ssh (openssh-client) not found")
}
