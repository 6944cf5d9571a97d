package metrics

// CPUTimes is a reading of the host's cumulative CPU time, in clock ticks
// summed over all CPUs.
type CPUTimes struct {
	// Busy is time not idle and not waiting for I/O; Total is all time.
	Busy, Total uint64
	// CPUs is the number of CPUs counted.
	CPUs int
}

// Memory is a reading of the host's memory.
type Memory struct {
	TotalBytes, AvailableBytes uint64
}

// Disk is a reading of one filesystem.
type Disk struct {
	// UsedBytes is space in use; AvailableBytes is space ordinary users may
	// still take (root's reserve excluded, as df counts it).
	UsedBytes, AvailableBytes uint64
}

// ProcessTimes is a reading of one process.
type ProcessTimes struct {
	// CPUTicks is the process's user plus system time in clock ticks, the
	// unit of CPUTimes.
	CPUTicks uint64
	// RSSBytes is its resident memory.
	RSSBytes uint64
}

// Source reads the raw counters. ProcSource reads them from /proc; tests
// inject their own.
type Source interface {
	CPU() (CPUTimes, error)
	Memory() (Memory, error)
	Disk(path string) (Disk, error)
	// Process returns an error wrapping os.ErrNotExist for a pid that is
	// gone.
	Process(pid int) (ProcessTimes, error)
}
