package procmon

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestParseTaskCall pins the formats of /proc/<pid>/task/<tid>/syscall.
func TestParseTaskCall(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want taskCall
		ok   bool
	}{
		{in: "running\n", want: taskCall{running: true}, ok: true},
		{in: "-1 0x7ffd5e0 0x7f00a1\n", want: taskCall{nr: -1}, ok: true},
		{in: "232 0x4 0x7ffc 0x400 0xffffffff 0x0 0x0 0x7ffcf0 0x7f01\n", want: taskCall{nr: 232, args: [6]uint64{4, 0x7ffc, 0x400, 0xffffffff}}, ok: true},
		{in: "7 0x7f 0x1\n", ok: false}, // cut short
		{in: "", ok: false},
		{in: "x 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n", ok: false},
	} {
		got, ok := parseTaskCall(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseTaskCall(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestPollAndSelectSets: the fd lists of poll and select are read from
// the process's memory, with their layouts (this process's own memory
// here, as procmon reads a worker's).
func TestPollAndSelectSets(t *testing.T) {
	if len(pollSyscalls) == 0 {
		t.Skip("no syscall numbers for this architecture")
	}
	pid := os.Getpid()
	fds := []unix.PollFd{{Fd: 5, Events: unix.POLLIN}, {Fd: 7, Events: unix.POLLOUT}, {Fd: -1, Events: unix.POLLIN}}
	addr := uint64(uintptr(unsafe.Pointer(&fds[0])))
	for _, tt := range []struct {
		fds  []int
		want bool
	}{{[]int{5}, true}, {[]int{7}, false}, {[]int{9}, false}, {[]int{3, 5}, true}} {
		if got := pollWatches(pid, addr, uint64(len(fds)), tt.fds); got != tt.want {
			t.Errorf("poll set %v, listener fds %v: %v, want %v", fds, tt.fds, got, tt.want)
		}
	}
	runtime.KeepAlive(fds)

	var set [2]uint64 // an fd_set of 128 bits
	set[0] |= 1 << 5
	set[1] |= 1 << (70 - 64)
	saddr := uint64(uintptr(unsafe.Pointer(&set[0])))
	for _, tt := range []struct {
		nfds uint64
		fds  []int
		want bool
	}{{64, []int{5}, true}, {64, []int{6}, false}, {3, []int{5}, false}, {128, []int{70}, true}, {71, []int{70}, true}, {70, []int{70}, false}} {
		if got := selectWatches(pid, tt.nfds, saddr, tt.fds); got != tt.want {
			t.Errorf("select over %d fds, listener fds %v: %v, want %v", tt.nfds, tt.fds, got, tt.want)
		}
	}
	runtime.KeepAlive(&set)
	if selectWatches(pid, 64, 0, []int{5}) {
		t.Errorf("select with no read set watches nothing")
	}
}

// TestStoppedAndIOCounts: a process stopped by SIGSTOP reads as stopped,
// and its read and write counts are there to compare.
func TestStoppedAndIOCounts(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if _, ok := ioCalls(cmd.Process.Pid); !ok {
		t.Fatalf("no read and write counts for pid %d", cmd.Process.Pid)
	}
	if processStopped(cmd.Process.Pid) {
		t.Fatalf("a sleeping process reads as stopped")
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !processStopped(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never read as stopped after SIGSTOP", cmd.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
