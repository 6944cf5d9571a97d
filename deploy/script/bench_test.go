package script

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkScriptRead measures what only the framing costs: bash reading
// the real script from a pipe, the first way (read -d ” up to a NUL: one
// read(2) per byte on a pipe) against Frame and head -c, as alternated
// pairs in one run. Neither evaluates the script.
func BenchmarkScriptRead(b *testing.B) {
	nul := Script() + "\x00"
	framed := Frame(Script())
	run := func(prog, stdin string) time.Duration {
		cmd := exec.Command("bash", "-c", prog)
		cmd.Stdin = strings.NewReader(stdin)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", prog, err, out)
		}
		return time.Since(start)
	}
	var old, cur, ratio []float64
	for b.Loop() {
		for range 20 {
			o := run(`IFS= read -r -d "" s; [ ${#s} -gt 1000 ]`, nul)
			c := run(`IFS= read -r n && s=$(head -c "$n") && [ ${#s} -gt 1000 ]`, framed)
			old, cur = append(old, ms(o)), append(cur, ms(c))
			ratio = append(ratio, float64(c)/float64(o))
		}
	}
	b.ReportMetric(median(old), "ms-nul-read")
	b.ReportMetric(median(cur), "ms-framed-head")
	b.ReportMetric(median(ratio), "framed/nul")
	sort.Float64s(ratio)
	b.ReportMetric(ratio[0], "framed/nul-min")
	b.ReportMetric(ratio[len(ratio)-1], "framed/nul-max")
	b.Logf("script %d bytes", len(Script()))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
