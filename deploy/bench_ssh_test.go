package deploy

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

// sshBenchDeploys is how many deploys one benchmark op times, so that a
// single op (make bench runs -benchtime 1x) still yields a median.
const sshBenchDeploys = 15

// BenchmarkDeploySSH measures whole deploys to a real sshd on loopback as
// a user runs them: dial, deploy, close. It reports the median and p90
// wall time of a no-op deploy (the same commit again) and of a one-commit
// deploy, the SSH connections and sessions each opened, the median of each
// remote step, and, to say what dominates, what a bare dial (TCP, key
// exchange, auth) and one bare session (`true`: sshd forks the login
// shell, whose rc files run every time) cost on this machine.
func BenchmarkDeploySSH(b *testing.B) {
	srv := sshtest.Start(b, sshtest.Options{})
	home := sshtest.FakeHome(b, "", srv)
	b.Setenv("SSH_AUTH_SOCK", "")
	target := remote.Target{Host: srv.Host(), Port: srv.Port(), User: srv.User()}
	for _, tc := range []struct {
		name   string
		commit bool
	}{{"noop", false}, {"one-commit", true}} {
		b.Run(tc.name, func(b *testing.B) {
			o := newOrigin(b)
			o.commit(nil)
			s := newServer(b, o)
			s.env.Keep = 3
			s.setup()
			stats := &remote.Stats{}
			opts := remote.Options{HomeDir: home, Stats: stats}
			var walls []time.Duration
			steps := map[string][]time.Duration{}
			for b.Loop() {
				for range sshBenchDeploys {
					if tc.commit {
						b.StopTimer()
						o.commit(nil)
						b.StartTimer()
					}
					start := time.Now()
					c, err := remote.Dial(ctxFor(b), target, opts)
					if err != nil {
						b.Fatal(err)
					}
					res, err := Deploy(ctxFor(b), c, s.env, s.opts())
					c.Close()
					if err != nil {
						b.Fatalf("deploy: %v\n%s", err, s.out)
					}
					walls = append(walls, time.Since(start))
					for _, st := range res.Steps {
						steps[st.Name] = append(steps[st.Name], st.Duration)
					}
				}
			}
			n := float64(len(walls))
			b.ReportMetric(ms(quantile(walls, 0.5)), "ms-median")
			b.ReportMetric(ms(quantile(walls, 0.9)), "ms-p90")
			b.ReportMetric(float64(stats.Connections.Load())/n, "conns/deploy")
			b.ReportMetric(float64(stats.Sessions.Load())/n, "sessions/deploy")
			b.Logf("%s: median %v over %d deploys; per step (median): %s", tc.name,
				quantile(walls, 0.5).Round(time.Millisecond), len(walls), stepMedians(steps))
		})
	}
	b.Run("dial-only", func(b *testing.B) {
		var walls []time.Duration
		for b.Loop() {
			for range sshBenchDeploys {
				start := time.Now()
				c, err := remote.Dial(ctxFor(b), target, remote.Options{HomeDir: home})
				if err != nil {
					b.Fatal(err)
				}
				walls = append(walls, time.Since(start))
				c.Close()
			}
		}
		b.ReportMetric(ms(quantile(walls, 0.5)), "ms-median")
	})
	b.Run("bare-session", func(b *testing.B) {
		c, err := remote.Dial(ctxFor(b), target, remote.Options{HomeDir: home})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		var walls []time.Duration
		for b.Loop() {
			for range sshBenchDeploys {
				start := time.Now()
				if err := c.Run(ctxFor(b), "true", nil, nil, nil); err != nil {
					b.Fatal(err)
				}
				walls = append(walls, time.Since(start))
			}
		}
		b.ReportMetric(ms(quantile(walls, 0.5)), "ms-median")
	})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1)+0.5)]
}

func stepMedians(steps map[string][]time.Duration) string {
	var names []string
	for n := range steps {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return quantile(steps[names[i]], 0.5) > quantile(steps[names[j]], 0.5) })
	out := ""
	for _, n := range names {
		out += fmt.Sprintf("%s %v, ", n, quantile(steps[n], 0.5).Round(time.Millisecond))
	}
	return out
}
