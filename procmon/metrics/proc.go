package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ProcSource reads the counters from Linux's /proc and statfs(2).
type ProcSource struct {
	// Root is the proc filesystem's mount point; empty means "/proc".
	Root string
}

func (p ProcSource) path(parts ...string) string {
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// CPU reads the aggregate "cpu" line of /proc/stat.
func (p ProcSource) CPU() (CPUTimes, error) {
	data, err := os.ReadFile(p.path("stat"))
	if err != nil {
		return CPUTimes{}, fmt.Errorf("read cpu times: %w", err)
	}
	var t CPUTimes
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) > 0 && fields[0] == "cpu":
			t, err = parseCPULine(fields[1:])
			if err != nil {
				return CPUTimes{}, err
			}
			found = true
		case len(fields) > 0 && strings.HasPrefix(fields[0], "cpu"):
			t.CPUs++
		}
	}
	if !found || t.CPUs == 0 {
		return CPUTimes{}, errors.New("read cpu times: no cpu lines in /proc/stat")
	}
	return t, nil
}

// parseCPULine sums user nice system idle iowait irq softirq steal; guest
// time is already inside user and nice.
func parseCPULine(fields []string) (CPUTimes, error) {
	if len(fields) < 4 {
		return CPUTimes{}, fmt.Errorf("read cpu times: short cpu line %q", strings.Join(fields, " "))
	}
	var t CPUTimes
	for i, f := range fields[:min(len(fields), 8)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return CPUTimes{}, fmt.Errorf("read cpu times: field %d %q: %w", i+1, f, err)
		}
		t.Total += v
		if i != 3 && i != 4 { // idle, iowait
			t.Busy += v
		}
	}
	return t, nil
}

// Memory reads MemTotal and MemAvailable from /proc/meminfo.
func (p ProcSource) Memory() (Memory, error) {
	data, err := os.ReadFile(p.path("meminfo"))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	var m Memory
	var seen int
	for _, line := range strings.Split(string(data), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return Memory{}, fmt.Errorf("read memory: empty %s", key)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("read memory: %s: %w", key, err)
		}
		if key == "MemTotal" {
			m.TotalBytes = kb << 10
		} else {
			m.AvailableBytes = kb << 10
		}
		seen++
	}
	if seen != 2 || m.TotalBytes == 0 {
		return Memory{}, errors.New("read memory: /proc/meminfo lacks MemTotal or MemAvailable (kernel older than 3.14?)")
	}
	return m, nil
}

// Disk reads the filesystem holding path. A path that does not exist
// yet (an app's dir before its first deploy) is measured at its nearest
// existing parent, where it will be created.
func (p ProcSource) Disk(path string) (Disk, error) {
	var st syscall.Statfs_t
	err := syscall.Statfs(path, &st)
	for at := path; errors.Is(err, syscall.ENOENT) && at != filepath.Dir(at); {
		at = filepath.Dir(at)
		err = syscall.Statfs(at, &st)
	}
	if err != nil {
		return Disk{}, fmt.Errorf("read disk use of %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return Disk{UsedBytes: (st.Blocks - st.Bfree) * bs, AvailableBytes: st.Bavail * bs}, nil
}

// Process reads /proc/<pid>/stat and /proc/<pid>/statm.
func (p ProcSource) Process(pid int) (ProcessTimes, error) {
	id := strconv.Itoa(pid)
	stat, err := os.ReadFile(p.path(id, "stat"))
	if err != nil {
		return ProcessTimes{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	ticks, err := parseProcStat(stat)
	if err != nil {
		return ProcessTimes{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	statm, err := os.ReadFile(p.path(id, "statm"))
	if err != nil {
		return ProcessTimes{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	f := strings.Fields(string(statm))
	if len(f) < 2 {
		return ProcessTimes{}, fmt.Errorf("read process %d: short statm %q", pid, statm)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return ProcessTimes{}, fmt.Errorf("read process %d: statm resident: %w", pid, err)
	}
	return ProcessTimes{CPUTicks: ticks, RSSBytes: pages * uint64(os.Getpagesize())}, nil
}

// parseProcStat returns utime+stime. The command name (field 2) sits in
// parentheses and may hold spaces or parentheses, so fields are counted
// from the last ')'.
func parseProcStat(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %.40q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat %.60q", stat)
	}
	var sum uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat cpu time %q: %w", s, err)
		}
		sum += v
	}
	return sum, nil
}
