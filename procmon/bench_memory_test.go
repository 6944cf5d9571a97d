package procmon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Memory per connection (issue 14): what a proxy facing the internet
// holds for each client that keeps a connection open without using it,
// procmon next to nginx in front of the same kind of worker. Each round
// starts a fresh proxy, reads its RSS, opens the connections, reads its
// RSS again; the rounds alternate (nginx, procmon, nginx, procmon, …) so
// that the machine's drift hits both alike.

const (
	memIdleConns  = 2000        // keep-alive connections that made one GET and stay idle
	memHeadConns  = 1000        // connections that sent an unfinished head
	memHeadBytes  = 30 << 10    // how much of a head each sent
	memRounds     = 2           // rounds of each proxy
	memOpenWithin = time.Minute // every connection is opened and measured well within the proxies' 60 s head timeout
)

// memProxy is one proxy under test: its address and its processes.
type memProxy struct {
	addr string
	pids func() []int
	stop func()
}

// BenchmarkConnMemory: RSS per idle keep-alive connection and per
// connection with an unfinished 30 KB head, procmon's proxy against nginx
// (1 worker process, its defaults for heads: large_client_header_buffers
// 4 8k), runs alternated, the ratio reported with its spread.
func BenchmarkConnMemory(b *testing.B) {
	e := newBenchEnv(b)
	nginx := benchTool(b, "nginx", "apt-get install nginx-light")
	start := map[string]func() memProxy{
		"nginx": func() memProxy {
			addr, _, stopWorker := e.startDirect(nil)
			n := e.startNginxConns(nginx, addr, 2*memIdleConns+256)
			return memProxy{n.addr, n.pids, func() { n.stop(); stopWorker() }}
		},
		"procmon": func() memProxy {
			addr, cmd, stop := e.startProcmon(ModeProxy, 1, nil)
			return memProxy{addr, func() []int { return []int{cmd.Process.Pid} }, stop}
		},
	}
	cases := []struct {
		name  string
		conns int
		open  func(b *testing.B, addr string, n int) []net.Conn
	}{
		{"idle keep-alive", memIdleConns, openIdleConns},
		{"unfinished 30 KB head", memHeadConns, openHeadConns},
	}
	var sb strings.Builder
	for _, c := range cases {
		per := map[string][]float64{}
		for range memRounds {
			for _, name := range []string{"nginx", "procmon"} {
				p := start[name]()
				kb := measureConnMemory(b, p, c.conns, c.open)
				p.stop()
				per[name] = append(per[name], kb)
			}
		}
		var ratios []float64
		for i := range per["procmon"] {
			ratios = append(ratios, per["procmon"][i]/per["nginx"][i])
		}
		fmt.Fprintf(&sb, "%-22s %5d conns  procmon %s kB/conn  nginx %s kB/conn  procmon/nginx %s\n",
			c.name, c.conns, spread(per["procmon"], "%.1f"), spread(per["nginx"], "%.2f"), spread(ratios, "%.1fx"))
		key := strings.Fields(c.name)[0]
		b.ReportMetric(median(per["procmon"]), key+"-procmon-kB/conn")
		b.ReportMetric(median(per["nginx"]), key+"-nginx-kB/conn")
		b.ReportMetric(median(ratios), key+"-procmon/nginx")
	}
	fmt.Printf("\nRSS per connection, %d rounds each, alternated (nginx, procmon, …); values in run order:\n%s", memRounds, sb.String())
}

// measureConnMemory opens n connections to p with open, and returns the
// growth of p's RSS per connection, in kB. Every connection must still be
// open when measured: a proxy that refused them would look cheap.
func measureConnMemory(b *testing.B, p memProxy, n int, open func(*testing.B, string, int) []net.Conn) float64 {
	before := pidsRSS(p.pids())
	conns := open(b, p.addr, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(500 * time.Millisecond) // let the proxy settle (free what the opening used)
	after := pidsRSS(p.pids())
	if shut := countClosed(conns); shut > 0 {
		b.Fatalf("%s: %d of %d connections were closed by the proxy before the measure", p.addr, shut, n)
	}
	return float64(after-before) / float64(n)
}

func pidsRSS(pids []int) int {
	sum := 0
	for _, pid := range pids {
		sum += rssKB(pid, "VmRSS")
	}
	return sum
}

// openIdleConns opens n keep-alive connections, each of which makes one
// GET, reads its answer and stays open.
func openIdleConns(b *testing.B, addr string, n int) []net.Conn {
	return openConns(b, addr, n, func(nc net.Conn) error {
		if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			return fmt.Errorf("answer %s, close %v", resp.Status, resp.Close)
		}
		return nil
	})
}

// openHeadConns opens n connections, each of which sends memHeadBytes of
// a request head, in header lines of 512 bytes (nginx keeps a line in
// one 8k buffer), and stops before its end.
func openHeadConns(b *testing.B, addr string, n int) []net.Conn {
	head := []byte("GET / HTTP/1.1\r\nHost: bench\r\n")
	for i := 0; len(head) < memHeadBytes-512; i++ {
		head = fmt.Appendf(head, "X-Pad-%03d: %s\r\n", i, strings.Repeat("p", 512-14))
	}
	return openConns(b, addr, n, func(nc net.Conn) error {
		_, err := nc.Write(head)
		return err
	})
}

// openConns dials n connections, 32 at a time, and runs use on each.
func openConns(b *testing.B, addr string, n int, use func(net.Conn) error) []net.Conn {
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	deadline := time.Now().Add(memOpenWithin)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					conns[i] = nc
					nc.SetDeadline(deadline)
					err = use(nc)
					nc.SetDeadline(time.Time{})
				}
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		b.Fatalf("open %d connections to %s: %v", n, addr, err)
	}
	return conns
}

// countClosed is how many of conns the other side closed or answered: a
// read that does not time out within 100 ms.
func countClosed(conns []net.Conn) int {
	var mu sync.Mutex
	closed := 0
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			var buf [1]byte
			_, err := c.Read(buf[:])
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return closed
}

// spread formats values as "min–max" (or one value) with format.
func spread(values []float64, format string) string {
	lo, hi := slices.Min(values), slices.Max(values)
	if fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
		return fmt.Sprintf(format, lo)
	}
	return fmt.Sprintf(format, lo) + "–" + fmt.Sprintf(format, hi)
}

// median of values (the mean of the middle two for an even count).
func median(values []float64) float64 {
	s := slices.Sorted(slices.Values(values))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
