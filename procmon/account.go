package procmon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/deploytool/deploy/internal/hint"
)

// Who runs what. procmon itself runs as root (the shipped unit sets no
// User=) and starts every worker as the config's `user`, through
// SysProcAttr.Credential: setgid, setgroups and setuid happen in the
// forked child before exec, so no worker ever runs as root when a user is
// configured. The config's `group` (default: the user's primary group) is
// the workers' group and the group of the control socket (root:group 0660)
// and of the log file (root:group 0640): the deploy user, once a member,
// can run `procmon reload --wait`, `status` and `logs`.
//
// Why procmon keeps root rather than running under User= itself: one
// template unit (procmon@.service) serves every app, and systemd cannot
// read the user out of each app's config; procmon keeps ports below 1024
// without extra capabilities; and the socket, the log and procmon's own
// memory stay out of the app's reach, so a compromised app cannot forge
// the reload verdict the deploy gate trusts or rewrite its own log. What
// runs the app's code is the unprivileged user; procmon only reads `dir`,
// watches the restart file and talks to the workers over loopback.

// account is the resolved `user` and `group` of a config.
type account struct {
	// user is the workers' user; "" means procmon's own user (and then uid,
	// groups and home are unset).
	user   string
	uid    int
	groups []uint32 // user's supplementary groups
	home   string
	// group is the workers' group (with user) and the group of the control
	// socket and the log; "" means none: both stay private to procmon's
	// user. gid is its id.
	group string
	gid   int
}

// accountError is a lookup failure of one config key.
type accountError struct {
	key string
	err error
}

func (e *accountError) Error() string { return e.err.Error() }

// lookupAccount resolves the `user` and `group` keys against this host's
// users and groups. With user set and group empty, group is the user's
// primary group.
func lookupAccount(userName, groupName string) (account, error) {
	a := account{uid: -1, gid: -1}
	if userName != "" {
		u, err := user.Lookup(userName)
		if err != nil {
			return a, &accountError{"user", lookupError("user", userName, err)}
		}
		a.user, a.home = u.Username, u.HomeDir
		a.uid, _ = strconv.Atoi(u.Uid)
		a.gid, _ = strconv.Atoi(u.Gid)
		a.group = u.Gid
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			a.group = g.Name
		}
		ids, _ := u.GroupIds()
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil {
				a.groups = append(a.groups, uint32(n))
			}
		}
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			return a, &accountError{"group", lookupError("group", groupName, err)}
		}
		a.group = g.Name
		a.gid, _ = strconv.Atoi(g.Gid)
	}
	return a, nil
}

// accountOf resolves cfg's user and group; an error names the key.
func accountOf(cfg *Config) (account, error) {
	a, err := lookupAccount(cfg.User, cfg.Group)
	if ae, ok := errors.AsType[*accountError](err); ok {
		return a, fmt.Errorf("key %q: %w", ae.key, err)
	}
	return a, err
}

func lookupError(kind, name string, err error) error {
	var uu user.UnknownUserError
	var ug user.UnknownGroupError
	if errors.As(err, &uu) || errors.As(err, &ug) {
		create := "useradd --system --user-group --shell /usr/sbin/nologin " + name
		if kind == "group" {
			create = "groupadd --system " + name
		}
		return hint.Wrap(fmt.Errorf("no %s %q on this host", kind, name), "create it first: "+create)
	}
	return fmt.Errorf("look up %s %q: %w", kind, name, err)
}

// credential is what a worker is started with: nil means procmon's own
// user and groups. It refuses a user procmon cannot switch to.
func (a account) credential() (*syscall.Credential, error) {
	if a.user == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		if os.Geteuid() == a.uid {
			return nil, nil // already that user: nothing to switch
		}
		return nil, hint.Wrap(fmt.Errorf("key \"user\": procmon runs as uid %d, not root, and cannot start workers as %s", os.Geteuid(), a.user), fmt.Sprintf("run procmon as root, as the shipped unit does, or as %s itself", a.user))
	}
	return &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: a.groups}, nil
}

// sharedGID is the group the control socket and the log are given: the
// config's group, or 0 (none: both stay private) without one.
func (a account) sharedGID() int {
	if a.group == "" || a.gid < 0 {
		return 0
	}
	return a.gid
}

// blockingDir returns the first directory above path that members of
// group gid (who are neither root nor its owner) cannot enter, or "".
func blockingDir(path string, gid int) string {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return ""
		}
		m := fi.Mode().Perm()
		st, ok := fi.Sys().(*syscall.Stat_t)
		if m&0o001 == 0 && !(ok && int(st.Gid) == gid && m&0o010 != 0) {
			return dir
		}
		if dir == filepath.Dir(dir) {
			return ""
		}
	}
}

// env is what a worker running as the account gets instead of procmon's
// own HOME, USER and LOGNAME, as systemd's User= gives; nil without user.
func (a account) env() map[string]string {
	if a.user == "" {
		return nil
	}
	return map[string]string{"HOME": a.home, "USER": a.user, "LOGNAME": a.user}
}
