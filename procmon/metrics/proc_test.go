package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProcSourceOnThisMachine reads the real /proc for this test process.
func TestProcSourceOnThisMachine(t *testing.T) {
	var src ProcSource
	cpu, err := src.CPU()
	if err != nil {
		t.Fatal(err)
	}
	if cpu.CPUs < 1 || cpu.Total == 0 || cpu.Busy > cpu.Total {
		t.Fatalf("cpu %+v", cpu)
	}
	mem, err := src.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if mem.TotalBytes < 64<<20 || mem.AvailableBytes > mem.TotalBytes {
		t.Fatalf("memory %+v", mem)
	}
	d, err := src.Disk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d.UsedBytes+d.AvailableBytes == 0 {
		t.Fatalf("disk %+v", d)
	}
	// An app's dir before its first deploy is measured where it will be.
	if missing, err := src.Disk(filepath.Join(t.TempDir(), "app", "current")); err != nil || missing.UsedBytes+missing.AvailableBytes == 0 {
		t.Fatalf("disk of a path not created yet: %+v %v", missing, err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Disk(filepath.Join(file, "dir")); err == nil {
		t.Fatal("statfs under a regular file succeeded")
	}
	if _, err := src.Process(1 << 30); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing pid: %v, want ErrNotExist", err)
	}

	pid := os.Getpid()
	s, err := New(Config{DiskPath: t.TempDir(), Processes: func() []Process { return []Process{{"self", pid}} }})
	if err != nil {
		t.Fatal(err)
	}
	s.Sample(time.Now())
	burnTicks(t, src, pid, 20)
	sm := s.Sample(time.Now())
	if len(sm.Errors) > 0 {
		t.Fatalf("errors: %q", sm.Errors)
	}
	self := sm.Processes[0]
	t.Logf("host cpu %.1f%%, memory %.1f%%, disk %.1f%%; self cpu %.1f%% rss %d", sm.HostCPUPercent, sm.MemoryPercent, sm.DiskPercent, self.CPUPercent, self.RSSBytes)
	for name, v := range map[string]float64{"host cpu": sm.HostCPUPercent, "memory": sm.MemoryPercent, "disk": sm.DiskPercent} {
		if v <= 0 || v > 100 {
			t.Errorf("%s %.2f%% out of (0, 100]", name, v)
		}
	}
	// The busy loop shows as real CPU use, at most every core.
	if !self.HasCPU || self.CPUPercent <= 0 || self.CPUPercent > float64(cpu.CPUs)*100+5 {
		t.Errorf("own cpu %.1f%% (has %v), want above 0 and at most %d", self.CPUPercent, self.HasCPU, cpu.CPUs*100)
	}
	if self.RSSBytes < 1<<20 || self.RSSBytes > mem.TotalBytes {
		t.Errorf("own rss %d bytes out of range", self.RSSBytes)
	}
}

// burnTicks spins until the process used ticks more clock ticks of CPU
// (or 10 s passed on a machine too busy to give it any).
func burnTicks(t *testing.T, src ProcSource, pid int, ticks uint64) {
	start, err := src.Process(pid)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		if now, err := src.Process(pid); err == nil && now.CPUTicks-start.CPUTicks >= ticks {
			return
		}
	}
	t.Logf("used fewer than %d ticks in 10s (x=%d)", ticks, x)
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"1234 (node) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 0 0", 300, false},
		{"42 (a (weird) name) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 10, false},
		{"42 (x) R 1 2", 0, true},
		{"no paren", 0, true},
		{"42 (x) R 1 42 42 0 -1 0 0 0 0 0 a b 0", 0, true},
	}
	for _, tt := range tests {
		got, err := parseProcStat([]byte(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseProcStat(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestParseCPULine(t *testing.T) {
	got, err := parseCPULine([]string{"100", "10", "50", "800", "40", "0", "0", "0", "5", "0"})
	if err != nil || got.Total != 1000 || got.Busy != 160 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := parseCPULine([]string{"1", "2"}); err == nil {
		t.Fatal("short line accepted")
	}
}
