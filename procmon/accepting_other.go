//go:build !amd64 && !arm64

package procmon

// acceptSyscalls and waitSyscalls are empty where their numbers are not
// listed: only an epoll registration then shows a worker accepting.
var (
	acceptSyscalls = map[int]bool{}
	waitSyscalls   = map[int]bool{}
)
