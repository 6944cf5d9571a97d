package deploy

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/gitsource"
	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

// shipRounds is how many alternated pairs (A, B, A, B, …) one benchmark
// op times.
const shipRounds = 8

// meteredConn counts the bytes the laptop sends on commands' stdin: the
// script text and, for push and build local, the pack or the tar.
type meteredConn struct {
	Conn
	sent atomic.Int64
}

func (c *meteredConn) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	if stdin != nil {
		stdin = &meteredReader{r: stdin, n: &c.sent}
	}
	return c.Conn.Run(ctx, cmd, stdin, stdout, stderr)
}

type meteredReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *meteredReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// shipSample is one deploy's wall time and the bytes the laptop sent.
type shipSample struct {
	wall  time.Duration
	bytes int64
	steps []Step
}

// BenchmarkShip compares the ways to ship on one repo and one sshd, as
// alternated pairs in one run: a one-commit deploy by source push next to
// the default fetch (the server fetching the same repo), and a build
// local redeploy where one file of 200 changed next to a fetch deploy of
// the same change. Each deploy dials, deploys and closes. It reports the
// medians, the B/A ratio of each pair (median, min, max) and the bytes
// the laptop sent per deploy (stdin payload: the script text each remote
// command carries, plus the pack or the tar).
func BenchmarkShip(b *testing.B) {
	srv := sshtest.Start(b, sshtest.Options{})
	home := sshtest.FakeHome(b, "", srv)
	b.Setenv("SSH_AUTH_SOCK", "")
	target := remote.Target{Host: srv.Host(), Port: srv.Port(), User: srv.User()}
	dial := func() *meteredConn {
		c, err := remote.Dial(ctxFor(b), target, remote.Options{HomeDir: home})
		if err != nil {
			b.Fatal(err)
		}
		return &meteredConn{Conn: c}
	}
	deployOnce := func(env *config.Env, o Options) shipSample {
		start := time.Now()
		c := dial()
		res, err := Deploy(ctxFor(b), c, env, o)
		c.Close()
		if err != nil {
			b.Fatalf("deploy %s: %v", env.Name, err)
		}
		return shipSample{time.Since(start), c.sent.Load(), res.Steps}
	}
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("assets/a%03d.txt", i)] = fmt.Sprintf("asset %d %s\n", i, string(make([]byte, 2000)))
	}
	newEnv := func(name string) *config.Env {
		return &config.Env{Name: name, Path: filepath.Join(b.TempDir(), "srv", name), Keep: 3}
	}
	setup := func(env *config.Env) {
		c := dial()
		defer c.Close()
		if err := Setup(ctxFor(b), c, env, Options{}); err != nil {
			b.Fatalf("setup %s: %v", env.Name, err)
		}
	}

	b.Run("push-vs-fetch", func(b *testing.B) {
		o := newOrigin(b)
		o.commit(files)
		repo, err := gitsource.Open(o.dir)
		if err != nil {
			b.Fatal(err)
		}
		fetch, push := newEnv("fetch"), newEnv("push")
		fetch.Repo, push.Source = o.dir, "push"
		setup(fetch)
		setup(push)
		pushOpts := func() Options {
			p, err := repo.ResolvePush("main")
			if err != nil {
				b.Fatal(err)
			}
			return Options{Push: &Push{Repo: repo, Commit: p}, Who: "bench@laptop"}
		}
		deployOnce(fetch, Options{Who: "bench@laptop"}) // the first deploys carry the history
		deployOnce(push, pushOpts())
		var a, p []shipSample
		for b.Loop() {
			for range shipRounds {
				o.commit(nil)
				a = append(a, deployOnce(fetch, Options{Who: "bench@laptop"}))
				p = append(p, deployOnce(push, pushOpts()))
			}
		}
		reportPairs(b, "fetch", a, "push", p)
	})

	b.Run("artifact-vs-fetch", func(b *testing.B) {
		o := newOrigin(b)
		o.commit(files)
		repo, err := gitsource.Open(o.dir)
		if err != nil {
			b.Fatal(err)
		}
		fetch, local := newEnv("fetch"), newEnv("local")
		fetch.Repo = o.dir
		local.Build, local.BuildCommand, local.Artifact = "local", "mkdir -p dist && cp -r assets dist/", []string{"dist/"}
		setup(fetch)
		setup(local)
		artifactOpts := func() (Options, *Artifact) {
			p, err := repo.ResolvePush("main")
			if err != nil {
				b.Fatal(err)
			}
			a, err := BuildLocal(ctxFor(b), LocalBuild{Repo: repo, SHA: p.SHA, Ref: "main", Command: local.BuildCommand, Items: local.Artifact})
			if err != nil {
				b.Fatal(err)
			}
			return Options{Artifact: a, Who: "bench@laptop"}, a
		}
		deployOnce(fetch, Options{Who: "bench@laptop"})
		opts, art := artifactOpts()
		deployOnce(local, opts)
		art.Remove()
		var f, l []shipSample
		for b.Loop() {
			for i := range shipRounds {
				o.commit(map[string]string{fmt.Sprintf("assets/a%03d.txt", (i*37)%200): fmt.Sprintf("changed %d\n", i)})
				f = append(f, deployOnce(fetch, Options{Who: "bench@laptop"}))
				b.StopTimer()
				opts, art := artifactOpts() // the local build is not the upload's cost
				b.StartTimer()
				l = append(l, deployOnce(local, opts))
				art.Remove()
			}
		}
		reportPairs(b, "fetch", f, "artifact", l)
	})
}

// reportPairs reports the medians of a and c, the per-pair ratio c/a
// (median, min, max) and the median bytes sent.
func reportPairs(b *testing.B, an string, a []shipSample, cn string, c []shipSample) {
	var aw, cw []time.Duration
	var ratios []time.Duration // ratio × 1000, as durations to reuse quantile
	var ab, cb []time.Duration
	for i := range a {
		aw, cw = append(aw, a[i].wall), append(cw, c[i].wall)
		ratios = append(ratios, time.Duration(1000*float64(c[i].wall)/float64(a[i].wall)))
		ab, cb = append(ab, time.Duration(a[i].bytes)), append(cb, time.Duration(c[i].bytes))
	}
	b.ReportMetric(ms(quantile(aw, 0.5)), an+"-ms")
	b.ReportMetric(ms(quantile(cw, 0.5)), cn+"-ms")
	b.ReportMetric(float64(quantile(ratios, 0.5))/1000, cn+"/"+an)
	b.ReportMetric(float64(quantile(ratios, 0))/1000, cn+"/"+an+"-min")
	b.ReportMetric(float64(quantile(ratios, 1))/1000, cn+"/"+an+"-max")
	b.ReportMetric(float64(quantile(ab, 0.5)), an+"-bytes")
	b.ReportMetric(float64(quantile(cb, 0.5)), cn+"-bytes")
	for _, side := range []struct {
		name string
		s    []shipSample
	}{{an, a}, {cn, c}} {
		steps := map[string][]time.Duration{}
		for _, s := range side.s {
			for _, st := range s.steps {
				steps[st.Name] = append(steps[st.Name], st.Duration)
			}
		}
		b.Logf("%s: per step (median): %s", side.name, stepMedians(steps))
	}
}
