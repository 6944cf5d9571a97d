package procmon

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// ownLinesHandler writes procmon's own log records (a worker started,
// ready, crashed or replaced, a reload served or abandoned) into the
// [log] file too, beside the workers' lines, as `pm2 logs` shows its
// "PM2 |" lines among the app's: `procmon logs`, and so `deploy logs`,
// show why a worker restarted next to what it printed. Each record is one
// line stamped as a worker's is and marked "procmon |":
//
//	2026-12-06T15:01:42.507Z procmon | level=WARN msg="worker crashed" gen=2 worker=1 pid=5239 how="exited with status 4" restart_in=1s
//
// stderr (journald under systemd) still gets every record as before.
func ownLinesHandler(w io.Writer) slog.Handler {
	return slog.NewTextHandler(ownLines{w}, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{} // the line's stamp says it
		}
		return a
	}})
}

// ownLines stamps each record a TextHandler writes (one Write per record).
type ownLines struct{ w io.Writer }

func (o ownLines) Write(p []byte) (int, error) {
	buf := make([]byte, 0, len(p)+40)
	buf = time.Now().UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z")
	buf = append(buf, " procmon | "...)
	buf = append(buf, p...)
	if _, err := o.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

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
