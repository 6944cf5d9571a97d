package deploy

import (
	"fmt"
	"io"
	"os"

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

// sendPack answers the script's haves (push step): it packs exactly the
// objects reachable from the commit and from none of the mirror's ref
// tips, into a temp file to learn its size, and sends "pack <bytes>" and
// the pack on the control channel.
func (r *Rollout) sendPack(haves []string) error {
	p := r.o.Push
	pack, err := p.Repo.PackFor(p.Commit.SHA, haves)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "deploy-pack-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := pack.WriteTo(f)
	if err != nil {
		return err
	}
	if pack.Objects() == 0 {
		n = 0 // the mirror has it all: send an empty pack
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := r.s.sendBlob("pack", io.LimitReader(f, n), n); err != nil {
		return err
	}
	r.mu.Lock()
	r.res.Pushed = &Sent{Objects: pack.Objects(), Bytes: n}
	r.mu.Unlock()
	return nil
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
	return []string{script.Arg("sha", p.Commit.SHA), script.Arg("ref", ref), script.Arg("push-ref", p.Commit.ServerRef)}, nil
}
