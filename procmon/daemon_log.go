package procmon

import (
	"strings"
	"sync"
	"time"
)

// recentKeep is how many worker lines the daemon remembers in memory.
const recentKeep = 2000

// recentLines remembers the last worker lines given to Write (one stamped
// line per Write, as the supervisor writes them), so that a failed
// reload's verdict can show the failed generation's last words whether or
// not the output goes to a log file.
type recentLines struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newRecentLines(n int) *recentLines { return &recentLines{lines: make([]string, n)} }

// maxRecentLine bounds the memory one remembered line may take.
const maxRecentLine = 1024

// Write remembers p, cut to maxRecentLine bytes, without its newline.
func (r *recentLines) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p[:min(len(p), maxRecentLine)]), "\n")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = line
	r.next = (r.next + 1) % len(r.lines)
	r.full = r.full || r.next == 0
	return len(p), nil
}

// generation returns up to n of the last lines of generation gen, oldest
// first.
func (r *recentLines) generation(gen, n int) []string {
	marker := genMarker(gen)
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	size := len(r.lines)
	count := r.next
	if r.full {
		count = size
	}
	for i := 1; i <= count && len(out) < n; i++ {
		line := r.lines[(r.next-i+size)%size]
		if strings.Contains(line, marker) {
			out = append(out, line)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// settle waits until no line of generation gen arrived for quiet, or max
// passed.
func (r *recentLines) settle(gen int, quiet, max time.Duration) {
	deadline := time.Now().Add(max)
	last, lastChange := r.count(gen), time.Now()
	for time.Now().Before(deadline) && time.Since(lastChange) < quiet {
		time.Sleep(quiet / 5)
		if n := r.count(gen); n != last {
			last, lastChange = n, time.Now()
		}
	}
}

// count returns how many lines of generation gen are remembered (up to
// logTailLines is enough to see a change).
func (r *recentLines) count(gen int) int {
	return len(r.generation(gen, recentKeep))
}
