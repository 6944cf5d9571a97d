package deploy

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
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

// pullRequests is how many pull requests BenchmarkOriginWithPullRequests
// gives its origin: each has refs/pull/<n>/head and /merge, at commits
// of their own on no branch, as GitHub keeps them for every pull request
// ever opened. The first openPullRequests are open: GitHub recomputes
// their merge refs when main moves, so each new commit on main moves
// those too.
const (
	pullRequests     = 3000
	openPullRequests = 30
)

// pullRequestRefs writes, with git fast-import, one commit on top of
// main for each of refs/pull/<1..n>/<kinds>, and packs the refs, as a
// hosted origin keeps them.
func (o *origin) pullRequestRefs(tb testing.TB, n int, kinds ...string) {
	tb.Helper()
	var in strings.Builder
	for i := 1; i <= n; i++ {
		for _, kind := range kinds {
			body := fmt.Sprintf("pull request %d %s %d\n", i, kind, o.n)
			fmt.Fprintf(&in, "commit refs/pull/%d/%s\ncommitter T <t@example.com> 1700000000 +0000\ndata 3\npr\nfrom refs/heads/main^0\nM 644 inline pr.txt\ndata %d\n%s\n", i, kind, len(body), body)
		}
	}
	o.packRefsFrom(tb, in.String(), "fast-import", "--quiet", "--force")
}

// packRefsFrom runs git args in the origin with input on its stdin (git
// fast-import, update-ref --stdin), then packs the refs, as a hosted
// origin keeps them.
func (o *origin) packRefsFrom(tb testing.TB, input string, args ...string) {
	tb.Helper()
	cmd := exec.Command("git", append([]string{"-C", o.dir}, args...)...)
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	o.git("pack-refs", "--all")
}

// BenchmarkOriginWithPullRequests measures what an origin's pull-request
// refs cost a deploy: two origins over SSH (as in BenchmarkOriginOverSSH,
// protocol v2 as GitHub speaks it), one with pullRequests pull requests'
// refs (the open ones' merge refs moved with each commit on main) and one
// without, each deployed one commit at a time (ref unset), alternated. It reports each
// median deploy (ms-prs, ms-no-prs), their ratio (prs/no-prs, with the
// ratios of the alternated pairs' min and max), the bytes the origin sent
// per deploy (kB-from-origin-prs, -no-prs) and the refs in the mirror.
func BenchmarkOriginWithPullRequests(b *testing.B) {
	so := newSSHOrigin(b)
	type side struct {
		name  string
		o     *origin
		s     *server
		walls []time.Duration
		bytes int64
	}
	var sides []*side
	for _, name := range []string{"prs", "no-prs"} {
		o := newOrigin(b)
		o.commit(nil)
		if name == "prs" {
			o.pullRequestRefs(b, pullRequests, "head", "merge")
		}
		s := newServer(b, o)
		s.env.Repo = so.URL(o.dir)
		s.env.Keep = 3
		s.conn.Env = so.Env
		s.setup()
		s.deploy()
		sides = append(sides, &side{name: name, o: o, s: s})
	}
	var ratios []float64
	for i := 0; i < originDeploys; i++ {
		for _, sd := range sides {
			sd.o.commit(nil)
			if sd.name == "prs" {
				sd.o.pullRequestRefs(b, openPullRequests, "merge")
			}
			before := so.proxy.FromTarget()
			start := time.Now()
			if _, err := Deploy(context.Background(), sd.s.conn, sd.s.env, sd.s.opts()); err != nil {
				b.Fatalf("%s: deploy: %v\n%s", sd.name, err, sd.s.out)
			}
			sd.walls = append(sd.walls, time.Since(start))
			sd.bytes += so.proxy.FromTarget() - before
		}
		ratios = append(ratios, float64(sides[0].walls[i])/float64(sides[1].walls[i]))
	}
	for _, sd := range sides {
		refs := len(strings.Split(sd.s.mirrorRefs(), "\n"))
		b.ReportMetric(ms(quantile(sd.walls, 0.5)), "ms-"+sd.name)
		b.ReportMetric(float64(sd.bytes)/1024/originDeploys, "kB-from-origin-"+sd.name)
		b.ReportMetric(float64(refs), "mirror-refs-"+sd.name)
		b.Logf("%s: median deploy %v (min %v, max %v), %.1f kB from the origin per deploy, %d refs in the mirror",
			sd.name, quantile(sd.walls, 0.5).Round(time.Millisecond), quantile(sd.walls, 0).Round(time.Millisecond),
			quantile(sd.walls, 1).Round(time.Millisecond), float64(sd.bytes)/1024/originDeploys, refs)
	}
	sort.Float64s(ratios)
	r := float64(quantile(sides[0].walls, 0.5)) / float64(quantile(sides[1].walls, 0.5))
	b.ReportMetric(r, "prs/no-prs")
	b.ReportMetric(ratios[0], "prs/no-prs-min")
	b.ReportMetric(ratios[len(ratios)-1], "prs/no-prs-max")
	b.Logf("%d pull requests: prs/no-prs %.2f (pairs %.2f–%.2f); load average %s", pullRequests, r, ratios[0], ratios[len(ratios)-1], loadAvg())
}
