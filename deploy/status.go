package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// HostStatus is a host's deploy state as the script sees it.
type HostStatus struct {
	// Current is the release current points at ("" = nothing deployed).
	Current string
	// SHA is the commit of Current.
	SHA string
	// Behind is how many successful deploys were made after Current (after
	// a revert), 0 when Current is the newest.
	Behind int
	// LayoutOK is true when <path>/repo and releases exist (setup ran).
	LayoutOK bool
	// Lock is "free" or the holder ("user@laptop (pid N, deploy) since T").
	Lock string
	// DiskFreeKB is the free space on <path>'s filesystem, in KiB.
	DiskFreeKB int64
	// Unlogged is true when no deploy or failed line of .deploys names
	// Current: a deploy was cut off between its switch and its log line
	// (its script killed, the power lost), so it may never have
	// restarted the app.
	// Behind is then 0, and revert 1 goes to the last deploy.
	Unlogged bool
}

// Status reads the host's deploy state; it changes nothing and takes no
// lock.
func Status(ctx context.Context, conn Conn, env *config.Env, o Options) (*HostStatus, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	st := &HostStatus{}
	err = runSimple(ctx, conn, "status", args, Options{Host: o.Host}, func(ev script.Message) {
		if ev.Kind != script.KindStatus || len(ev.Fields) < 2 {
			return
		}
		v := strings.TrimSpace(strings.TrimPrefix(ev.Rest, ev.Fields[0]))
		switch ev.Fields[0] {
		case "current":
			if len(ev.Fields) == 3 {
				st.Current, st.SHA = dash(ev.Fields[1]), dash(ev.Fields[2])
			}
		case "behind":
			st.Behind = atoi(v)
		case "layout":
			st.LayoutOK = v == "ok"
		case "lock":
			st.Lock = v
		case "disk-free-kb":
			st.DiskFreeKB = int64(atoi(v))
		case "unlogged":
			st.Unlogged = v == "yes"
		}
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// CheckItem is one preflight finding on a host.
type CheckItem struct {
	// Name is what was checked: layout, lock, disk, writable,
	// bin:<tool>, hook:<command>, procmon, build rows, repo, ref,
	// script-copy.
	Name string
	// OK is true when it passed.
	OK bool
	// Detail is what was found, or for a failure what is wrong and what
	// to do.
	Detail string
}

// Check is the preflight of a deploy on env's host; it changes nothing:
// the layout exists, the lock is free, there is disk space (100 MiB),
// git, flock, setsid and tar are installed, each hook's command is in the
// hook shell's PATH (commands given by a path are skipped: they come with
// the release), and the ref (env.Ref or Options.Ref) exists at the origin.
// The error is only for a host that could not be checked; failed items
// are in the list.
func Check(ctx context.Context, conn Conn, env *config.Env, o Options) ([]CheckItem, error) {
	args, err := deployArgs(env, o)
	if err != nil {
		return nil, err
	}
	var items []CheckItem
	err = runSimple(ctx, conn, "check", args, Options{Host: o.Host}, func(ev script.Message) {
		if ev.Kind != script.KindCheck || len(ev.Fields) < 2 {
			return
		}
		_, detail, _ := strings.Cut(ev.Rest, " ")
		_, detail, _ = strings.Cut(detail, " ")
		items = append(items, CheckItem{Name: ev.Fields[0], OK: ev.Fields[1] == "ok", Detail: detail})
	})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, hostErr(o.Host, fmt.Errorf("check: the server reported nothing"))
	}
	return items, nil
}
