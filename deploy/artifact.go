package deploy

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/deploytool/deploy/deploy/gitsource"
)

// LocalBuild is what `build local` runs on the laptop (BuildLocal).
type LocalBuild struct {
	// Repo is the laptop's clone; the build runs in an export of SHA.
	Repo *gitsource.Repo
	// SHA is the commit built; Ref is the name it is logged under.
	SHA, Ref string
	// Dirty, when set, is the working tree to build in instead of a clean
	// export (--dirty): uncommitted changes ship, and Ref says +dirty.
	Dirty string
	// Command is build-command, run with bash -c in the checkout.
	Command string
	// Items are the artifact's paths (nil = dist/): an item ending in /
	// ships its content at the release's top level, as rsync reads it;
	// any other keeps its path.
	Items []string
	// Vars are the env key's variables, added to the build's environment
	// (GOOS, GOARCH, NODE_ENV, … as on the server).
	Vars map[string]string
	// Out receives the build's output.
	Out io.Writer
}

// Artifact is a built release's content on the laptop, uploaded to every
// host by a deploy (Options.Artifact). Remove deletes it.
type Artifact struct {
	// SHA is the commit built, written to the release's REVISION and
	// .deploys; Ref is the name logged.
	SHA, Ref string
	// Root holds the content as the release will have it.
	Root string
	// Files are Root's regular files, by path.
	Files []ArtifactFile
	work  string
}

// ArtifactFile is one regular file of an artifact.
type ArtifactFile struct {
	// Path is relative to Root, with forward slashes.
	Path string
	// Mode holds the permission bits.
	Mode fs.FileMode
	// Size is the length in bytes.
	Size int64
	// SHA256 is the content's hash, hex.
	SHA256 string
}

// Remove deletes the artifact's files from the laptop.
func (a *Artifact) Remove() error { return os.RemoveAll(a.work) }

// BuildLocal runs b.Command in a clean export of b.SHA (never the user's
// working tree, unless b.Dirty) and gathers b.Items into an Artifact. It
// touches no host: a failing build is an error naming the command and its
// exit status, and nothing was sent anywhere.
func BuildLocal(ctx context.Context, b LocalBuild) (*Artifact, error) {
	work, err := os.MkdirTemp("", "deploy-build-")
	if err != nil {
		return nil, err
	}
	a := &Artifact{SHA: b.SHA, Ref: b.Ref, Root: filepath.Join(work, "artifact"), work: work}
	fail := func(err error) (*Artifact, error) {
		_ = a.Remove()
		return nil, err
	}
	src := b.Dirty
	if src == "" {
		src = filepath.Join(work, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			return fail(err)
		}
		if err := b.Repo.Export(b.SHA, src); err != nil {
			return fail(fmt.Errorf("build local: export %s: %w", ShortSHA(b.SHA), err))
		}
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", b.Command)
	cmd.Dir = src
	cmd.Env = append(append(os.Environ(), "REVISION="+b.SHA), sortedVars(b.Vars)...)
	out := b.Out
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	fmt.Fprintf(out, "build local: %s (in a clean checkout of %s)\n", b.Command, ShortSHA(b.SHA))
	if err := cmd.Run(); err != nil {
		where := "a clean checkout of " + ShortSHA(b.SHA)
		if b.Dirty != "" {
			where = b.Dirty
		}
		return fail(&StepError{Step: "build local", Message: fmt.Sprintf("'%s' failed (%v) in %s: no host was touched", b.Command, err, where)})
	}
	if err := a.gather(src, b.Items, b.Dirty != ""); err != nil {
		return fail(&StepError{Step: "build local", Message: err.Error() + ": no host was touched"})
	}
	return a, nil
}

func sortedVars(vars map[string]string) []string {
	kv := make([]string, 0, len(vars))
	for k, v := range vars {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return kv
}

// gather moves (or, from a working tree, copies) the items out of src
// into a.Root and lists and hashes its files.
func (a *Artifact) gather(src string, items []string, copyOnly bool) error {
	if len(items) == 0 {
		items = []string{"dist/"}
	}
	if err := os.Mkdir(a.Root, 0o755); err != nil {
		return err
	}
	for _, item := range items {
		rel := strings.TrimSuffix(item, "/")
		from := filepath.Join(src, filepath.FromSlash(rel))
		st, err := os.Lstat(from)
		if err != nil {
			return fmt.Errorf("artifact %s is not there after the build (%v): check build-command and artifact", item, err)
		}
		if strings.HasSuffix(item, "/") {
			if !st.IsDir() {
				return fmt.Errorf("artifact %s ends in / but is not a directory", item)
			}
			entries, err := os.ReadDir(from)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := place(filepath.Join(from, e.Name()), filepath.Join(a.Root, e.Name()), copyOnly); err != nil {
					return fmt.Errorf("artifact %s: %w", item, err)
				}
			}
			continue
		}
		to := filepath.Join(a.Root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := place(from, to, copyOnly); err != nil {
			return fmt.Errorf("artifact %s: %w", item, err)
		}
	}
	return a.list()
}

// place puts from at to: a rename, or a copy when the source must stay.
func place(from, to string, copyOnly bool) error {
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s is given twice (two items put it at the same place)", filepath.Base(to))
	}
	if !copyOnly {
		return os.Rename(from, to)
	}
	st, err := os.Lstat(from)
	switch {
	case err != nil:
		return err
	case st.IsDir():
		return os.CopyFS(to, os.DirFS(from))
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		return os.Symlink(target, to)
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// list walks Root: regular files are hashed; directories and symlinks go
// as they are; anything else (a socket, a device) is refused, as is a
// name that the manifest's tab-separated lines cannot carry.
func (a *Artifact) list() error {
	a.Files = nil
	return filepath.WalkDir(a.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a.Root, p)
		rel = filepath.ToSlash(rel)
		if strings.ContainsAny(rel, "\t\n\r\\") {
			return fmt.Errorf("artifact file %q has a tab, newline or backslash in its name: rename it", rel)
		}
		switch {
		case d.IsDir(), d.Type()&fs.ModeSymlink != 0:
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("artifact file %s is not a regular file, directory or symlink", rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum, err := fileSHA256(p)
		if err != nil {
			return err
		}
		a.Files = append(a.Files, ArtifactFile{Path: rel, Mode: info.Mode().Perm(), Size: info.Size(), SHA256: sum})
		return nil
	})
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// manifest is the stage command's input: one line per regular file,
// "<sha256>\t<mode, octal>\t<size>\t<path>", as find -printf '%m' and
// sha256sum write them on the server.
func (a *Artifact) manifest() string {
	var b strings.Builder
	for _, f := range a.Files {
		fmt.Fprintf(&b, "%s\t%o\t%d\t%s\n", f.SHA256, f.Mode, f.Size, f.Path)
	}
	return b.String()
}

// Uploaded is what an artifact upload sent to one host (Result.Uploaded).
type Uploaded struct {
	// Files is the number of files sent; Reused the number the server
	// copied from its current release instead.
	Files, Reused int
	// Bytes is the size of the tar stream sent.
	Bytes int64
}

// String says what was sent, as the deploy prints it.
func (u Uploaded) String() string {
	return fmt.Sprintf("upload: sent %d files (%d bytes), %d unchanged files copied on the server from the current release", u.Files, u.Bytes, u.Reused)
}

// sendTar answers the script's needs (upload step): a tar of the
// manifest's files the server asked for (need, by index), every directory
// and symlink, into a temp file to learn its size, then "tar <bytes>" and
// the tar on the control channel.
func (r *Rollout) sendTar(need map[int]bool, reused int) error {
	f, err := os.CreateTemp("", "deploy-upload-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	files, err := r.o.Artifact.writeTar(f, need)
	if err != nil {
		return err
	}
	n, err := f.Seek(0, io.SeekCurrent) // the tar's size
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := r.s.sendBlob("tar", f, n); err != nil {
		return err
	}
	r.mu.Lock()
	r.res.Uploaded = &Uploaded{Files: files, Reused: reused, Bytes: n}
	r.mu.Unlock()
	return nil
}

// writeTar writes every directory and symlink of the artifact and the
// files whose manifest index is in need, as a tar stream, and returns the
// number of files in it.
func (a *Artifact) writeTar(w io.Writer, need map[int]bool) (int, error) {
	tw := tar.NewWriter(w)
	index := make(map[string]int, len(a.Files))
	for i, f := range a.Files {
		index[f.Path] = i
	}
	files := 0
	err := filepath.WalkDir(a.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == a.Root {
			return err
		}
		rel, _ := filepath.Rel(a.Root, p)
		rel = filepath.ToSlash(rel)
		if d.Type().IsRegular() {
			if !need[index[rel]] {
				return nil
			}
			files++
		}
		return addTarEntry(tw, p, rel, d)
	})
	if err == nil {
		err = tw.Close()
	}
	return files, err
}

// addTarEntry writes one file, directory or symlink, owned by nobody in
// particular (the server's tar runs with --no-same-owner).
func addTarEntry(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	if d.Type()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	if d.IsDir() {
		hdr.Name = path.Clean(rel) + "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !d.Type().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
