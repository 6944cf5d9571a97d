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
