package deploy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// manyRefs gives the origin n lightweight tags (v0.<i>) and n/5
// branches (feature-<i>) at its HEAD, in one git update-ref, packed: a
// repository that tags every build, or keeps every feature branch.
func (o *origin) manyRefs(tb testing.TB, n int) {
	tb.Helper()
	sha := o.git("rev-parse", "HEAD")
	var in strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&in, "create refs/tags/v0.%d %s\n", i, sha)
		if i%5 == 0 {
			fmt.Fprintf(&in, "create refs/heads/feature-%d %s\n", i, sha)
		}
	}
	o.packRefsFrom(tb, in.String(), "update-ref", "--stdin")
}

// TestResolveAmongManyRefs: with 1 500 tags and 300 branches, a
// branch, a tag, the origin's default branch and a branch whose name
// holds regex characters each resolve to their own commit (the mirror's
// refs are matched by a regex, with the name taken literally: rel.1 is
// not relx1), and the releases' refs are read apart from the branches.
func TestResolveAmongManyRefs(t *testing.T) {
	o := newOrigin(t)
	a := o.commit(nil)
	o.manyRefs(t, 1500)
	o.git("branch", "rel.1")
	b := o.commit(nil)
	o.git("branch", "relx1")
	o.git("branch", "fix+1")
	c := o.commit(nil)
	o.git("tag", "-a", "-m", "annotated", "v9")
	o.git("branch", "zz-last")
	s := newServer(t, o)
	s.env.Keep = 3
	s.setup()
	for _, tc := range []struct{ ref, want string }{
		{"rel.1", a}, {"relx1", b}, {"fix+1", b}, {"v9", c}, {"v0.1499", a}, {"feature-1500", a}, {"zz-last", c}, {"", c},
	} {
		s.env.Ref = tc.ref
		if got := s.deploy().NewSHA; got != tc.want {
			t.Errorf("ref %q deployed %s, want %s\n%s", tc.ref, got, tc.want, s.out)
		}
	}
	if rels, kept := s.releases(), s.keptRefs(); len(rels) != 3 || len(kept) < 3 {
		t.Errorf("releases %v, kept refs %v", rels, kept)
	}
	if out := gitOut(t, s.env.Path+"/current", "for-each-ref", "--count=1", "--format=%(refname)", "refs/heads/feature-10"); out != "refs/heads/feature-10" {
		t.Errorf("the release's own git lacks the mirror's branches: %q", out)
	}
}

// BenchmarkManyRefs: one-commit deploys of a tag from an origin with
// 6 000 tags and 1 200 branches against the same from an origin with
// none, alternated (Local transport: the script's own time, not SSH's).
// It reports each side's median deploy and resolve step, and the ratio.
// bash's pattern removal on the mirror's list of refs took time that
// grows with the square of its length: 2.8 s to resolve a tag at 6 000
// refs, before resolve and mirror_refs matched it with a regex.
func BenchmarkManyRefs(b *testing.B) {
	type side struct {
		o       *origin
		s       *server
		walls   []time.Duration
		resolve []time.Duration
	}
	sides := map[string]*side{}
	for _, name := range []string{"many", "few"} {
		o := newOrigin(b)
		o.commit(nil)
		if name == "many" {
			o.manyRefs(b, 6000)
		}
		s := newServer(b, o)
		s.env.Keep = 3
		s.env.Ref = "v-bench"
		s.setup()
		sides[name] = &side{o: o, s: s}
	}
	var ratios []float64
	for i := 0; i < 7; i++ {
		var walls [2]time.Duration
		for j, name := range []string{"many", "few"} {
			sd := sides[name]
			sd.o.commit(nil)
			sd.o.git("tag", "-f", "v-bench")
			start := time.Now()
			res := sd.s.deploy()
			walls[j] = time.Since(start)
			sd.walls = append(sd.walls, walls[j])
			sd.resolve = append(sd.resolve, stepTime(res, "resolve"))
		}
		ratios = append(ratios, float64(walls[0])/float64(walls[1]))
	}
	for _, name := range []string{"many", "few"} {
		b.ReportMetric(medianMs(sides[name].walls), "ms-deploy-"+name)
		b.ReportMetric(medianMs(sides[name].resolve), "ms-resolve-"+name)
	}
	b.Logf("7 pairs: %s; resolve step %v (6 000 tags) against %v; load average %s",
		reportSpread(b, ratios, "many/few"), quantile(sides["many"].resolve, 0.5).Round(time.Millisecond),
		quantile(sides["few"].resolve, 0.5).Round(time.Millisecond), loadAvg())
}
