package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource serves readings set by the test.
type fakeSource struct {
	mu    sync.Mutex
	cpu   CPUTimes
	mem   Memory
	disk  Disk
	procs map[int]ProcessTimes
	fail  error
}

func (f *fakeSource) CPU() (CPUTimes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cpu, f.fail
}
func (f *fakeSource) Memory() (Memory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mem, nil
}
func (f *fakeSource) Disk(string) (Disk, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disk, nil
}
func (f *fakeSource) Process(pid int) (ProcessTimes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.procs[pid]
	if !ok {
		return ProcessTimes{}, fmt.Errorf("read process %d: %w", pid, os.ErrNotExist)
	}
	return p, nil
}

// step advances the fake by one interval of 1000 ticks on 2 CPUs with the
// given host busy ticks and per-pid ticks.
func (f *fakeSource) step(busy uint64, procTicks map[int]uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cpu.Total += 1000
	f.cpu.Busy += busy
	for pid, t := range procTicks {
		p := f.procs[pid]
		p.CPUTicks += t
		f.procs[pid] = p
	}
}

const gib = 1 << 30

func TestDegradedThresholds(t *testing.T) {
	workers := []Process{{"w1", 101}, {"w2", 102}}
	tests := []struct {
		name      string
		busy      uint64 // of 1000 host ticks
		availMem  uint64
		diskUsed  uint64 // of 100 GiB
		w1, w2    uint64 // ticks of 1000 host ticks on 2 CPUs
		w2RSS     uint64
		wantHost  float64
		wantW2CPU float64
		reasons   []string
	}{
		{"all fine", 300, 8 * gib, 50, 50, 100, 100 << 20, 30, 20, nil},
		{"host cpu at threshold", 800, 8 * gib, 50, 50, 100, 100 << 20, 80, 20, []string{"host cpu 80.0% >= 80%"}},
		{"memory", 100, 2 * gib, 50, 50, 100, 100 << 20, 10, 20, []string{"memory 87.5% >= 80%"}},
		{"disk", 100, 8 * gib, 81, 50, 100, 100 << 20, 10, 20, []string{"disk of /srv/app 81.0% >= 80%"}},
		{"worker cpu", 500, 8 * gib, 50, 50, 450, 100 << 20, 50, 90, []string{"worker w2 cpu 90.0% >= 80%"}},
		{"worker rss", 100, 8 * gib, 50, 50, 100, 13 * gib, 10, 20, []string{"worker w2 rss 81.2% >= 80%"}},
		{"several", 900, 1 * gib, 90, 50, 100, 100 << 20, 90, 20, []string{"host cpu 90.0% >= 80%", "memory 93.8% >= 80%", "disk of /srv/app 90.0% >= 80%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{
				cpu:   CPUTimes{Busy: 5000, Total: 10000, CPUs: 2},
				mem:   Memory{TotalBytes: 16 * gib, AvailableBytes: tt.availMem},
				disk:  Disk{UsedBytes: tt.diskUsed * gib, AvailableBytes: (100 - tt.diskUsed) * gib},
				procs: map[int]ProcessTimes{101: {CPUTicks: 7}, 102: {CPUTicks: 9, RSSBytes: tt.w2RSS}},
			}
			s, err := New(Config{Source: src, DiskPath: "/srv/app", Processes: func() []Process { return workers }})
			if err != nil {
				t.Fatal(err)
			}
			first := s.Sample(time.Unix(0, 0))
			if first.HasCPU {
				t.Fatal("CPU percent without a previous reading")
			}
			src.step(tt.busy, map[int]uint64{101: tt.w1, 102: tt.w2})
			sm := s.Sample(time.Unix(30, 0))
			if !sm.HasCPU || !near(sm.HostCPUPercent, tt.wantHost) {
				t.Errorf("host cpu %.2f (has %v), want %.2f", sm.HostCPUPercent, sm.HasCPU, tt.wantHost)
			}
			if w2 := sm.Processes[1]; !w2.HasCPU || !near(w2.CPUPercent, tt.wantW2CPU) || w2.RSSBytes != tt.w2RSS {
				t.Errorf("w2 %+v, want cpu %.1f rss %d", w2, tt.wantW2CPU, tt.w2RSS)
			}
			if !reflect.DeepEqual(sm.Reasons, tt.reasons) || sm.Degraded != (len(tt.reasons) > 0) {
				t.Errorf("degraded %v reasons %q, want %q", sm.Degraded, sm.Reasons, tt.reasons)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 0.05 && b-a < 0.05 }

func TestVanishedProcessAndFailedReadings(t *testing.T) {
	src := &fakeSource{cpu: CPUTimes{Total: 100, CPUs: 1}, mem: Memory{TotalBytes: gib, AvailableBytes: gib},
		procs: map[int]ProcessTimes{1: {}}}
	s, _ := New(Config{Source: src, Processes: func() []Process { return []Process{{"w1", 1}, {"gone", 2}} }})
	sm := s.Sample(time.Now())
	if len(sm.Processes) != 1 || len(sm.Errors) != 0 {
		t.Fatalf("vanished pid: processes %+v errors %q", sm.Processes, sm.Errors)
	}
	src.fail = errors.New("read cpu times: boom")
	sm = s.Sample(time.Now())
	if sm.HasCPU || len(sm.Errors) != 1 || sm.Degraded {
		t.Fatalf("failed CPU reading: %+v", sm)
	}
}

func TestHistoryIsARing(t *testing.T) {
	src := &fakeSource{cpu: CPUTimes{Total: 1, CPUs: 1}, mem: Memory{TotalBytes: gib, AvailableBytes: gib}}
	s, _ := New(Config{Source: src, History: 3})
	if _, ok := s.Latest(); ok {
		t.Fatal("Latest before any sample")
	}
	for i := 0; i < 7; i++ {
		s.Sample(time.Unix(int64(i), 0))
	}
	h := s.History()
	if len(h) != 3 || h[0].Time.Unix() != 4 || h[2].Time.Unix() != 6 {
		t.Fatalf("history %v", h)
	}
	if l, _ := s.Latest(); l.Time.Unix() != 6 {
		t.Fatalf("latest %v", l.Time)
	}
}

func TestRunSamplesPeriodically(t *testing.T) {
	src := &fakeSource{cpu: CPUTimes{Total: 1, CPUs: 1}, mem: Memory{TotalBytes: gib, AvailableBytes: gib / 10}}
	got := make(chan Sample, 100)
	s, _ := New(Config{Source: src, Interval: 10 * time.Millisecond, History: 4, OnSample: func(sm Sample) {
		src.step(500, nil)
		got <- sm
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for i := 0; i < 5; i++ {
		select {
		case sm := <-got:
			if !sm.Degraded || !strings.HasPrefix(sm.Reasons[0], "memory 90.0%") {
				t.Fatalf("sample %d: %+v", i, sm)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Run produced no sample")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	if n := len(s.History()); n != 4 {
		t.Fatalf("history holds %d, want 4", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{Interval: -1}, {Threshold: 150}, {Threshold: -1}, {History: -2}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
