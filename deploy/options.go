package deploy

import (
	"io"
	"os"
	"os/user"
	"time"

	"github.com/deploytool/deploy/deploy/config"
)

// Options are the caller's choices for one remote command. The zero value
// discards output, deploys the env's ref, names the deployer $USER@hostname,
// fails at once on a busy lock and runs the test hook.
type Options struct {
	// Host names the host in errors and results ("" = none).
	Host string
	// Stdout receives the remote output: git's and the hooks' lines
	// (nil = discard). Protocol lines are parsed, not copied.
	Stdout io.Writer
	// Stdin is given to the command of Exec (nil = no input).
	Stdin io.Reader
	// Stderr receives Exec's standard error (nil = Stdout). Other
	// commands send everything to Stdout, in order.
	Stderr io.Writer
	// Ref overrides env.Ref ("" = env.Ref; both empty = the origin's
	// default branch).
	Ref string
	// Who is the user@laptop written into .deploys and the lock
	// ("" = $USER@hostname of this machine).
	Who string
	// Wait waits for a busy lock instead of failing at once.
	Wait bool
	// NoTests skips the test hook (-T).
	NoTests bool
	// AbortGrace is how long the server gets to clean up after ctx ends
	// before a deploy still preparing is cut off (0 = 30 s).
	AbortGrace time.Duration
	// Stamp is the UTC time (20060102T150405Z) that starts the new
	// release's id; DeployFleet sets one for all hosts so that a release
	// has the same name everywhere ("" = the server's clock).
	Stamp string
	// Hold keeps a deploy open after the restart and test until the caller
	// says Commit or Revert (multi-host health gate). Only Prepare uses it.
	Hold bool
	// OtherRunsRelease leaves the env's release-command out of this host's
	// deploy: another host of the fleet (the first) runs it, once.
	OtherRunsRelease bool
	// Push, when set, ships the commit from the laptop (source push):
	// before the deploy, the objects the host's mirror lacks are sent over
	// the same connection, and the server deploys Push.Commit.SHA without
	// fetching. env.Source must be "push".
	Push *Push
	// Artifact, when set, is build local's output: before the deploy it
	// is staged on the host (only the files its current release lacks
	// are sent), and the release is made of it. env.Build must be
	// "local". Several hosts share one Artifact; it is only read.
	Artifact *Artifact
	// OnStep, when set, is called as each remote step starts (live
	// progress). It runs on the transport's goroutine: keep it quick.
	OnStep func(step string)
}

// Step is one remote step and how long it took.
type Step struct {
	// Name is the script's step name (fetch, pre-deploy, switch, …).
	Name string
	// Duration is the wall time from its start to the next step's.
	Duration time.Duration
}

// who returns the deployer identity to record.
func (o Options) who() (string, error) {
	w := o.Who
	if w == "" {
		name := os.Getenv("USER")
		if u, err := user.Current(); err == nil && u.Username != "" {
			name = u.Username
		}
		host, _ := os.Hostname()
		w = name + "@" + host
	}
	if err := config.CheckField("deployer identity", w); err != nil {
		return "", err
	}
	return w, nil
}
