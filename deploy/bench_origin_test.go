package deploy

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
)

// originDeploys is how many one-commit deploys each series of
// BenchmarkOriginOverSSH times.
const originDeploys = 9

// BenchmarkOriginOverSSH measures what a deploy pays to reach an origin
// over SSH, as a real one (GitHub, a git server) is reached: the server's
// git talks to a second real sshd on loopback through a counting proxy,
// with its own key and known_hosts. For ref unset and for ref set it runs
// one-commit deploys and reports the median deploy (ms-<case>), the SSH
// connections the server opened to the origin per deploy
// (origin-conns-<case>), and, to say what one costs, a bare `ssh origin
// true` (ms-ssh-true-origin, median of as many).
func BenchmarkOriginOverSSH(b *testing.B) {
	srv := sshtest.Start(b, sshtest.Options{})
	proxy := sshtest.NewCutter(b, srv.Addr())
	home := sshtest.FakeHome(b, "", srv)
	sshCmd := []string{"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "IdentityFile=" + filepath.Join(home, ".ssh", "id_ed25519"),
		"-o", "UserKnownHostsFile=" + filepath.Join(home, ".ssh", "known_hosts"),
		"-o", "HostKeyAlias=" + fmt.Sprintf("[%s]:%d", srv.Host(), srv.Port())}
	// GIT_SSH_COMMAND is run by sh: the paths are temp dirs without spaces
	env := []string{"GIT_SSH_COMMAND=" + strings.Join(sshCmd, " ")}

	sshTrue := func() time.Duration {
		args := append(append([]string{}, sshCmd[1:]...), "-p", fmt.Sprint(proxy.Port()), srv.User()+"@"+srv.Host(), "true")
		start := time.Now()
		if out, err := exec.Command("ssh", args...).CombinedOutput(); err != nil {
			b.Fatalf("ssh true to the origin's sshd: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	var trues []time.Duration
	for _, tc := range []struct{ name, ref string }{{"ref-unset", ""}, {"ref-set", "main"}} {
		o := newOrigin(b)
		o.commit(nil)
		s := newServer(b, o)
		s.env.Repo = fmt.Sprintf("ssh://%s@%s:%d%s", srv.User(), srv.Host(), proxy.Port(), o.dir)
		s.env.Ref = tc.ref
		s.env.Keep = 3
		s.conn.Env = env
		s.setup()
		s.deploy()
		var walls []time.Duration
		conns := 0
		for i := 0; i < originDeploys; i++ {
			o.commit(nil)
			before := proxy.Accepted()
			start := time.Now()
			if _, err := Deploy(context.Background(), s.conn, s.env, s.opts()); err != nil {
				b.Fatalf("%s: deploy: %v\n%s", tc.name, err, s.out)
			}
			walls = append(walls, time.Since(start))
			conns += proxy.Accepted() - before
			trues = append(trues, sshTrue())
		}
		b.ReportMetric(ms(quantile(walls, 0.5)), "ms-"+tc.name)
		b.ReportMetric(float64(conns)/originDeploys, "origin-conns-"+tc.name)
		b.Logf("%s: %d one-commit deploys, median %v (min %v, max %v), %d SSH connections to the origin",
			tc.name, len(walls), quantile(walls, 0.5).Round(time.Millisecond), quantile(walls, 0).Round(time.Millisecond),
			quantile(walls, 1).Round(time.Millisecond), conns)
	}
	b.ReportMetric(ms(quantile(trues, 0.5)), "ms-ssh-true-origin")
	b.Logf("ssh origin true: median %v over %d; load average %s", quantile(trues, 0.5).Round(time.Millisecond), len(trues), loadAvg())
}
