package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/gitsource"
	"github.com/deploytool/deploy/deploy/script"
)

// Push is what a `source push` deploy sends before the deploy itself
// (Options.Push): the laptop's clone and the commit resolved in it.
type Push struct {
	// Repo is the laptop's clone the objects come from.
	Repo *gitsource.Repo
	// Commit is the commit deployed and the ref names it goes by.
	Commit gitsource.Pushed
}

// Sent is what a push sent to one host (Result.Pushed).
type Sent struct {
	// Objects is the number of git objects sent (0: the mirror had them).
	Objects int
	// Bytes is the pack's size.
	Bytes int64
}

// String says what was sent for commit sha, as the deploy prints it.
func (s Sent) String(sha string) string {
	if s.Objects == 0 {
		return fmt.Sprintf("push: the server already has %s: nothing sent", ShortSHA(sha))
	}
	return fmt.Sprintf("push: sent %d objects (%d bytes) for %s", s.Objects, s.Bytes, ShortSHA(sha))
}

// pushCommits sends the host's mirror the objects it lacks over conn, in
// two short remote commands before the deploy's own: haves (the mirror's
// ref tips), then receive, which reads a pack of exactly the objects
// reachable from the commit and from none of those tips
// (git index-pack) and points the commit's ref at it. Nothing else on the
// server changes, so a failure here leaves every release as it was.
func pushCommits(ctx context.Context, conn Conn, env *config.Env, o Options) (Sent, error) {
	p := o.Push
	args, err := baseArgs(env, o)
	if err != nil {
		return Sent{}, err
	}
	quiet := o
	quiet.OnStep = nil
	var haves []string
	err = runSimple(ctx, conn, "haves", args, quiet, func(ev script.Message) {
		if ev.Kind == script.KindHave {
			haves = append(haves, ev.Field(0))
		}
	})
	if err != nil {
		return Sent{}, err
	}
	pack, err := p.Repo.PackFor(p.Commit.SHA, haves)
	if err != nil {
		return Sent{}, hostErr(o.Host, &StepError{Step: "push", Message: err.Error()})
	}
	args = append(args, script.Arg("sha", p.Commit.SHA), script.Arg("push-ref", p.Commit.ServerRef),
		script.Arg("objects", fmt.Sprint(pack.Objects())))
	var input io.Reader
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	var size int64
	if pack.Objects() > 0 {
		input = pr
		go func() {
			n, err := pack.WriteTo(pw)
			size = n
			_ = pw.CloseWithError(err)
			wrote <- err
		}()
	} else {
		wrote <- nil
	}
	s, err := startSessionInput(ctx, conn, "receive", args, quiet.Stdout, nil, 0, input)
	if err != nil {
		_ = pr.Close()
		<-wrote
		return Sent{}, err
	}
	err = s.wait()
	_ = pr.CloseWithError(errors.New("the server's receive ended")) // unblocks a writer the server stopped reading
	werr := <-wrote
	if err != nil {
		return Sent{}, hostErr(o.Host, err)
	}
	if werr != nil {
		return Sent{}, hostErr(o.Host, &StepError{Step: "push", Message: werr.Error()})
	}
	return Sent{Objects: pack.Objects(), Bytes: size}, nil
}

// pushArgs returns a push deploy's own script arguments: the commit sent
// and the ref it is logged under (the name the user gave, else the
// branch checked out).
func pushArgs(p *Push) ([]string, error) {
	ref := p.Commit.Ref
	if ref == "" {
		ref = p.Commit.Branch
	}
	if ref == "" {
		ref = p.Commit.SHA
	}
	if err := config.CheckRef(ref); err != nil {
		return nil, err
	}
	return []string{script.Arg("sha", p.Commit.SHA), script.Arg("ref", ref)}, nil
}

// timedStep runs fn as a client-side step named name: reported through
// OnStep, timed into steps.
func timedStep(o Options, steps *[]Step, name string, fn func() error) error {
	if o.OnStep != nil {
		o.OnStep(name)
	}
	start := time.Now()
	err := fn()
	*steps = append(*steps, Step{Name: name, Duration: time.Since(start)})
	return err
}
