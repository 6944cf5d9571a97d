package procmon

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// acceptSyscalls and waitSyscalls are the syscall numbers blockedAccepting
// looks for, on this architecture (arm64 has no select or poll, only their
// p-variants).
var (
	acceptSyscalls = map[int]bool{syscall.SYS_ACCEPT: true, syscall.SYS_ACCEPT4: true}
	waitSyscalls   = map[int]bool{syscall.SYS_PSELECT6: true, syscall.SYS_PPOLL: true}
)

// The calls the heartbeat's socket-mode check (comeback.go) tells apart,
// on this architecture (no epoll_wait, poll or select: only their
// p-variants): waits whose first argument is an epoll fd, waits on a
// pollfd array (arg0, count arg1), waits on fd sets (count arg0, read set
// arg1), and reads and writes of the fd in arg0.
var (
	epollWaitSyscalls = map[int]bool{unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true}
	pollSyscalls      = map[int]bool{unix.SYS_PPOLL: true}
	selectSyscalls    = map[int]bool{unix.SYS_PSELECT6: true}
	ioSyscalls        = map[int]bool{unix.SYS_READ: true, unix.SYS_READV: true, unix.SYS_RECVFROM: true, unix.SYS_RECVMSG: true,
		unix.SYS_WRITE: true, unix.SYS_WRITEV: true, unix.SYS_SENDTO: true, unix.SYS_SENDMSG: true, unix.SYS_SENDFILE: true}
)
