package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProxyHop measures what one request costs the proxy, in process
// and without wrk: 64 keep-alive clients GET a hello-world worker directly
// and through the proxy (its own server, and net/http's server for
// comparison: what requests the fast path hands over cost). cpu-ns/req is the whole process's CPU time (user
// plus system, from getrusage) per request; the difference between the
// two sub-benchmarks is the proxy's own cost per request, which does not
// depend on how busy the shared machine is the way req/s does.
func BenchmarkProxyHop(b *testing.B) {
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	}))
	defer worker.Close()
	p := newTestProxy(slog.New(slog.DiscardHandler))
	p.Set([]*Backend{backendFor(b, worker.URL)})
	front := httptest.NewUnstartedServer(nil)
	srv := newServer(p, p.log)
	go srv.Serve(front.Listener)
	defer srv.Close()
	// The same proxy with every request served by net/http's server, as
	// the connections the fast path hands over are.
	std := httptest.NewServer(p)
	defer std.Close()
	for _, tc := range []struct{ name, url string }{
		{"direct", worker.URL},
		{"proxy", "http://" + front.Listener.Addr().String()},
		{"proxy-net-http", std.URL},
	} {
		b.Run(tc.name, func(b *testing.B) { benchGets(b, tc.url+"/") })
	}
}

func benchGets(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	defer client.CloseIdleConnections()
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	before := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/req")
}

// cpuTime is this process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
