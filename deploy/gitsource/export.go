package gitsource

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Export writes the tree of commit sha into dir (which must exist and be
// empty), as `git archive` would: regular files with their executable
// bit, symlinks as symlinks, nothing of the clone's working tree, index
// or ignored files. A submodule cannot be exported from the clone's own
// objects: it is an error naming it.
func (r *Repo) Export(sha, dir string) error {
	c, err := r.git.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return fmt.Errorf("commit %s is not in the local clone: %w", short(sha), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("tree of %s: %w", short(sha), err)
	}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the tree of %s: %w", short(sha), err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch entry.Mode {
		case filemode.Dir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case filemode.Submodule:
			return fmt.Errorf("%s is a submodule, which a build from the clone's own objects cannot include: build from a checkout that has it (--dirty), or vendor it", name)
		default:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := r.writeBlob(entry, dst); err != nil {
				return fmt.Errorf("export %s: %w", name, err)
			}
		}
	}
}

// writeBlob writes a tree entry's blob at dst: a symlink for a link, else
// a file with mode 0755 or 0644.
func (r *Repo) writeBlob(entry object.TreeEntry, dst string) error {
	blob, err := r.git.BlobObject(entry.Hash)
	if err != nil {
		return err
	}
	rd, err := blob.Reader()
	if err != nil {
		return err
	}
	defer rd.Close()
	if entry.Mode == filemode.Symlink {
		target, err := io.ReadAll(rd)
		if err != nil {
			return err
		}
		return os.Symlink(string(target), dst)
	}
	mode := os.FileMode(0o644)
	if entry.Mode == filemode.Executable {
		mode = 0o755
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rd); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
