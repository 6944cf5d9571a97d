package control

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// PermissionError says that this user may not use the control socket or
// read the log (or the config): the daemon may well be running. Its
// message names the path and its hint the group to join.
type PermissionError struct {
	// Path is the socket or file that was refused.
	Path string
	// Group is the group the file grants access to; "" when it grants
	// none (the procmon config sets no group) or it could not be read.
	Group string
	// Err is the refusal (EACCES or EPERM).
	Err error
}

// NewPermissionError describes err, a refusal to use path. need is the
// group permission the use takes (0o060 to connect to a socket, 0o040 to
// read a file): Group is set when path's group has it.
func NewPermissionError(path string, need os.FileMode, err error) *PermissionError {
	e := &PermissionError{Path: path, Err: err}
	fi, serr := os.Stat(path)
	if serr != nil || fi.Mode().Perm()&need != need {
		return e
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Gid != 0 {
		gid := strconv.FormatUint(uint64(st.Gid), 10)
		e.Group = gid
		if g, err := user.LookupGroupId(gid); err == nil {
			e.Group = g.Name
		}
	}
	return e
}

// Error implements error.
func (e *PermissionError) Error() string {
	return "permission denied on " + e.Path
}

// Unwrap lets errors.Is match os.ErrPermission, and the refusal itself.
func (e *PermissionError) Unwrap() []error { return []error{os.ErrPermission, e.Err} }

// Hint implements HintError: join the group, or have the config set one.
func (e *PermissionError) Hint() string {
	me := "this user"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	if e.Group != "" {
		return fmt.Sprintf("add %s to group %s (usermod -aG %s %s, then log in again) or set group in the procmon config",
			me, e.Group, e.Group, me)
	}
	return fmt.Sprintf("set group in the procmon config to a group %s is in, then restart procmon (its socket and log then belong to that group); or run this as root", me)
}
