package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultInterval  = 30 * time.Second
	DefaultThreshold = 80.0
	DefaultHistory   = 20
)

// firstSampleAfter bounds the wait for the first sample, so status shows
// readings soon after start even with a long interval.
const firstSampleAfter = 5 * time.Second

// Process names one process to sample.
type Process struct {
	// ID is the worker id shown in reasons, e.g. "w2".
	ID  string
	PID int
}

// Config sets up a Sampler. Zero fields take the defaults.
type Config struct {
	// Interval between samples.
	Interval time.Duration
	// Threshold in percent at or over which a reading degrades the app.
	Threshold float64
	// DiskPath is a path on the filesystem to watch; empty skips the disk.
	DiskPath string
	// History is how many samples to keep.
	History int
	// Processes returns the processes to sample, called at every sample;
	// nil samples none.
	Processes func() []Process
	// Source reads the counters; nil means ProcSource{}.
	Source Source
	// OnSample, when set, receives each sample from Run's goroutine.
	OnSample func(Sample)
}

// ProcessSample is one process's readings.
type ProcessSample struct {
	ID  string
	PID int
	// CPUPercent is in percent of one core; valid when HasCPU (a process
	// needs two readings).
	CPUPercent float64
	HasCPU     bool
	RSSBytes   uint64
}

// Sample is one round of readings and its verdict.
type Sample struct {
	Time time.Time
	// HostCPUPercent is valid when HasCPU (it needs a previous reading).
	HostCPUPercent float64
	HasCPU         bool
	MemoryPercent  float64
	DiskPercent    float64
	DiskPath       string
	Processes      []ProcessSample
	// Threshold is the level the readings were judged against.
	Threshold float64
	// Degraded is true when any reading is at or over Threshold; Reasons
	// names each such reading.
	Degraded bool
	Reasons  []string
	// Errors lists readings that failed (a vanished process is not one).
	Errors []string
}

// Sampler takes Samples periodically and keeps the recent ones.
type Sampler struct {
	cfg Config

	mu       sync.Mutex
	prevCPU  *CPUTimes
	prevProc map[int]uint64 // pid → CPU ticks at the previous sample
	delta    hostDelta      // host ticks between the last two CPU readings
	memBytes uint64         // host memory at the last good reading
	ring     []Sample       // oldest first, at most cfg.History
}

// New checks cfg and returns a Sampler.
func New(cfg Config) (*Sampler, error) {
	if cfg.Interval < 0 || cfg.Threshold < 0 || cfg.Threshold > 100 || cfg.History < 0 {
		return nil, fmt.Errorf("metrics: interval %v, threshold %v%%, history %d: want a positive interval, a threshold between 0 and 100, a positive history",
			cfg.Interval, cfg.Threshold, cfg.History)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.Source == nil {
		cfg.Source = ProcSource{}
	}
	return &Sampler{cfg: cfg, prevProc: map[int]uint64{}}, nil
}

// Run samples until ctx ends: a baseline at once, the first sample after at
// most firstSampleAfter, then one every Interval. It returns nil when ctx
// ends.
func (s *Sampler) Run(ctx context.Context) error {
	s.Sample(time.Now()) // baseline for the CPU deltas
	t := time.NewTimer(min(s.cfg.Interval, firstSampleAfter))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			sm := s.Sample(now)
			if s.cfg.OnSample != nil {
				s.cfg.OnSample(sm)
			}
			t.Reset(s.cfg.Interval)
		}
	}
}

// Sample takes one sample now, records it and returns it.
func (s *Sampler) Sample(now time.Time) Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm := Sample{Time: now, Threshold: s.cfg.Threshold, DiskPath: s.cfg.DiskPath}
	s.readHost(&sm)
	s.readProcesses(&sm)
	s.judge(&sm)
	s.ring = append(s.ring, sm)
	if len(s.ring) > s.cfg.History {
		s.ring = append(s.ring[:0], s.ring[len(s.ring)-s.cfg.History:]...)
	}
	return sm
}

// readHost fills the host readings; s.mu is held.
func (s *Sampler) readHost(sm *Sample) {
	src := s.cfg.Source
	s.delta = hostDelta{}
	if cpu, err := src.CPU(); err != nil {
		sm.Errors = append(sm.Errors, err.Error())
		s.prevCPU = nil
	} else {
		if p := s.prevCPU; p != nil && cpu.Total > p.Total && cpu.Busy >= p.Busy {
			sm.HostCPUPercent = percent(cpu.Busy-p.Busy, cpu.Total-p.Total)
			sm.HasCPU = true
			s.delta = hostDelta{ticks: cpu.Total - p.Total, cpus: cpu.CPUs, ok: true}
		}
		s.prevCPU = &cpu
	}
	if mem, err := src.Memory(); err != nil {
		sm.Errors = append(sm.Errors, err.Error())
	} else if mem.TotalBytes > 0 {
		s.memBytes = mem.TotalBytes
		sm.MemoryPercent = percent(mem.TotalBytes-min(mem.AvailableBytes, mem.TotalBytes), mem.TotalBytes)
	}
	if s.cfg.DiskPath != "" {
		if d, err := src.Disk(s.cfg.DiskPath); err != nil {
			sm.Errors = append(sm.Errors, err.Error())
		} else {
			sm.DiskPercent = percent(d.UsedBytes, d.UsedBytes+d.AvailableBytes)
		}
	}
}

// readProcesses fills the per-process readings; s.mu is held and
// readHost ran.
func (s *Sampler) readProcesses(sm *Sample) {
	if s.cfg.Processes == nil {
		return
	}
	d := s.delta
	seen := map[int]uint64{}
	for _, p := range s.cfg.Processes() {
		r, err := s.cfg.Source.Process(p.PID)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			sm.Errors = append(sm.Errors, fmt.Sprintf("worker %s: %v", p.ID, err))
			continue
		}
		ps := ProcessSample{ID: p.ID, PID: p.PID, RSSBytes: r.RSSBytes}
		if before, ok := s.prevProc[p.PID]; ok && d.ok && r.CPUTicks >= before {
			ps.CPUPercent = percent(r.CPUTicks-before, d.ticks) * float64(d.cpus)
			ps.HasCPU = true
		}
		seen[p.PID] = r.CPUTicks
		sm.Processes = append(sm.Processes, ps)
	}
	s.prevProc = seen
}

// hostDelta is the host's total ticks (summed over CPUs) between two CPU
// readings: the wall time that per-process ticks are measured against.
type hostDelta struct {
	ticks uint64
	cpus  int
	ok    bool
}

// judge compares every reading with the threshold; s.mu is held.
func (s *Sampler) judge(sm *Sample) {
	th := s.cfg.Threshold
	over := func(v float64, format string, args ...any) {
		if v >= th {
			sm.Reasons = append(sm.Reasons, fmt.Sprintf(format, args...)+fmt.Sprintf(" %.1f%% >= %g%%", v, th))
		}
	}
	if sm.HasCPU {
		over(sm.HostCPUPercent, "host cpu")
	}
	over(sm.MemoryPercent, "memory")
	if sm.DiskPath != "" {
		over(sm.DiskPercent, "disk of %s", sm.DiskPath)
	}
	total := s.memBytes
	for _, p := range sm.Processes {
		if p.HasCPU {
			over(p.CPUPercent, "worker %s cpu", p.ID)
		}
		if total > 0 {
			over(percent(p.RSSBytes, total), "worker %s rss", p.ID)
		}
	}
	sm.Degraded = len(sm.Reasons) > 0
}

// Latest returns the newest sample, and false before the first.
func (s *Sampler) Latest() (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) == 0 {
		return Sample{}, false
	}
	return s.ring[len(s.ring)-1], true
}

// History returns the kept samples, oldest first.
func (s *Sampler) History() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.ring...)
}

func percent(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}
