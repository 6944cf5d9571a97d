package deploy

import (
	"context"
	"strconv"
	"strings"
)

// UnlockResult says what Unlock found.
type UnlockResult struct {
	// State is "free" (nobody held the lock; Holder is the last holder
	// line, "" when none), "never" (no lock file: nothing ever deployed)
	// or "broken" (a live holder was stopped, with force).
	State string
	// Holder describes the holder: "user@laptop (pid N, deploy) since T".
	Holder string
}

// Unlock checks the deploy lock of env's host. A free lock (its holder
// died: the kernel freed it) is reported with the stale holder and cleared.
// A held lock is an error naming its holder unless force is set: then the
// holder is sent SIGTERM, so that its own cleanup runs (a half-made
// release is removed), and Unlock waits up to 30 s for the lock.
func Unlock(ctx context.Context, conn Conn, env *Env, force bool, o Options) (UnlockResult, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return UnlockResult{}, err
	}
	args = append(args, flag("force", force)...)
	var res UnlockResult
	err = runSimple(ctx, conn, "unlock", args, o, func(ev event) {
		if ev.kind == "unlock" && len(ev.fields) > 0 {
			res.State = ev.fields[0]
			res.Holder = strings.TrimSpace(strings.TrimPrefix(ev.rest, ev.fields[0]))
			if res.State == "never" || res.Holder == "an unknown holder" {
				res.Holder = ""
			}
		}
	})
	return res, err
}

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
}

// Status reads the host's deploy state; it changes nothing and takes no
// lock.
func Status(ctx context.Context, conn Conn, env *Env, o Options) (*HostStatus, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	st := &HostStatus{}
	err = runSimple(ctx, conn, "status", args, Options{Host: o.Host}, func(ev event) {
		if ev.kind != "status" || len(ev.fields) < 2 {
			return
		}
		v := strings.TrimSpace(strings.TrimPrefix(ev.rest, ev.fields[0]))
		switch ev.fields[0] {
		case "current":
			if len(ev.fields) == 3 {
				st.Current, st.SHA = dash(ev.fields[1]), dash(ev.fields[2])
			}
		case "behind":
			st.Behind = atoi(v)
		case "layout":
			st.LayoutOK = v == "ok"
		case "lock":
			st.Lock = v
		case "disk-free-kb":
			st.DiskFreeKB = int64(atoi(v))
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
