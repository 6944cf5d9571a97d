//go:build !amd64 && !arm64

package procmon

// acceptSyscalls and waitSyscalls are empty where their numbers are not
// listed: only an epoll registration then shows a worker accepting.
var (
	acceptSyscalls = map[int]bool{}
	waitSyscalls   = map[int]bool{}
)

// The heartbeat's socket-mode check (comeback.go) needs these numbers:
// where they are not listed it is off, and socket mode checks the public
// address only.
var (
	epollWaitSyscalls = map[int]bool{}
	pollSyscalls      = map[int]bool{}
	selectSyscalls    = map[int]bool{}
	ioSyscalls        = map[int]bool{}
)
