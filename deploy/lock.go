package deploy

import (
	"context"
	"strings"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
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
func Unlock(ctx context.Context, conn Conn, env *config.Env, force bool, o Options) (UnlockResult, error) {
	args, err := baseArgs(env, o)
	if err != nil {
		return UnlockResult{}, err
	}
	args = append(args, flag("force", force)...)
	var res UnlockResult
	err = runSimple(ctx, conn, "unlock", args, o, func(ev script.Message) {
		if ev.Kind == script.KindUnlock && len(ev.Fields) > 0 {
			res.State = ev.Fields[0]
			res.Holder = strings.TrimSpace(strings.TrimPrefix(ev.Rest, ev.Fields[0]))
			if res.State == "never" || res.Holder == "an unknown holder" {
				res.Holder = ""
			}
		}
	})
	return res, err
}
