package logfile

import (
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkStreamWrite measures lines per second from one stream into a
// capped file on the test's disk (drops are reported, since Write never
// waits for the disk).
func BenchmarkStreamWrite(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "bench.log"), Options{MaxSize: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	s := l.Stream(1, "w1")
	line := []byte("GET /articles/42 200 1.2ms " + strings.Repeat("x", 60) + "\n")
	const perOp = 1000
	b.SetBytes(int64(len(line) * perOp))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < perOp; j++ {
			s.Write(line)
		}
	}
	s.Close()
	l.Close()
	st := l.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N*perOp)*100, "%dropped")
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "lines/s")
}
