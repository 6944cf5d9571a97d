package procmon

import "syscall"

// acceptSyscalls and waitSyscalls are the syscall numbers blockedAccepting
// looks for, on this architecture.
var (
	acceptSyscalls = map[int]bool{syscall.SYS_ACCEPT: true, syscall.SYS_ACCEPT4: true}
	waitSyscalls   = map[int]bool{syscall.SYS_SELECT: true, syscall.SYS_PSELECT6: true, syscall.SYS_POLL: true, syscall.SYS_PPOLL: true}
)
