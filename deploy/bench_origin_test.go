package deploy

import (
	"context"
	"testing"
	"time"
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
	so := newSSHOrigin(b)
	var trues []time.Duration
	for _, tc := range []struct{ name, ref string }{{"ref-unset", ""}, {"ref-set", "main"}} {
		o := newOrigin(b)
		o.commit(nil)
		s := newServer(b, o)
		s.env.Repo = so.URL(o.dir)
		s.env.Ref = tc.ref
		s.env.Keep = 3
		s.conn.Env = so.Env
		s.setup()
		s.deploy()
		var walls []time.Duration
		conns := 0
		for i := 0; i < originDeploys; i++ {
			o.commit(nil)
			before := so.proxy.Accepted()
			start := time.Now()
			if _, err := Deploy(context.Background(), s.conn, s.env, s.opts()); err != nil {
				b.Fatalf("%s: deploy: %v\n%s", tc.name, err, s.out)
			}
			walls = append(walls, time.Since(start))
			conns += so.proxy.Accepted() - before
			trues = append(trues, so.True(b))
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
