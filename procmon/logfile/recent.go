package logfile

import "sync"

// How much of each generation's output Log.Recent remembers.
const (
	recentPerGeneration = 50
	recentGenerations   = 4
)

// recent keeps the last lines of the last few generations in memory.
type recent struct {
	mu      sync.Mutex
	perGen  int
	maxGens int
	lines   map[int][]string
}

func newRecent(perGen, maxGens int) *recent {
	return &recent{perGen: perGen, maxGens: maxGens, lines: map[int][]string{}}
}

func (r *recent) add(gen int, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.lines[gen]
	if !ok && len(r.lines) >= r.maxGens {
		oldest := gen
		for g := range r.lines {
			oldest = min(oldest, g)
		}
		if oldest == gen {
			return // older than everything kept
		}
		delete(r.lines, oldest)
	}
	if len(l) == r.perGen {
		copy(l, l[1:])
		l = l[:len(l)-1]
	}
	r.lines[gen] = append(l, line)
}

func (r *recent) get(gen, n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lines[gen]
	if n <= 0 {
		return nil
	}
	if n < len(l) {
		l = l[len(l)-n:]
	}
	return append([]string(nil), l...)
}

// How much of the pre-stamped lines (Log.Write) RecentFunc remembers.
const (
	rawLines   = 1000
	rawLineCap = 512 // longer lines are kept cut to this many bytes
)

// rawRing keeps the last pre-stamped lines in memory.
type rawRing struct {
	mu    sync.Mutex
	lines []string
	next  int
}

func (r *rawRing) add(line []byte) {
	if len(line) > rawLineCap {
		line = line[:rawLineCap]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) < rawLines {
		r.lines = append(r.lines, string(line))
		return
	}
	r.lines[r.next] = string(line)
	r.next = (r.next + 1) % rawLines
}

// last returns up to n of the newest lines that keep accepts, oldest first.
func (r *rawRing) last(n int, keep func(string) bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i := 0; i < len(r.lines) && len(out) < n; i++ {
		idx := (r.next - 1 - i + 2*len(r.lines)) % len(r.lines)
		if keep == nil || keep(r.lines[idx]) {
			out = append(out, r.lines[idx])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
