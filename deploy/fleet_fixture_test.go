package deploy

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/syncbuf"
	"golang.org/x/crypto/ssh"
)

// fleet is N real sshd "hosts" on loopback, each in its own mount
// namespace with its own disk at the same deploy path, set up with the
// same origin repo and reached with the real SSH client.
type fleet struct {
	t      testing.TB
	mount  string // the path every host has its own disk at
	hosts  []*sshtest.Host
	origin *origin
	env    *config.Env
	key    string // the client key file, authorized on every host
	known  string // known_hosts listing every host
	home   string
	stats  remote.Stats
	out    *syncbuf.Buffer
}

// newFleet starts n hosts, sets them up and deploys the origin's first
// commit to all of them, so that each has a previous release.
func newFleet(t testing.TB, n int) *fleet {
	t.Helper()
	t.Setenv("SSH_AUTH_SOCK", "")
	f := &fleet{t: t, mount: t.TempDir(), origin: newOrigin(t), home: t.TempDir(), out: &syncbuf.Buffer{}}
	dir := t.TempDir()
	client := sshtest.NewKey(t, filepath.Join(dir, "id_ed25519"), "")
	f.key, f.known = client.File, filepath.Join(dir, "known_hosts")
	kh, err := os.Create(f.known)
	if err != nil {
		t.Fatal(err)
	}
	defer kh.Close()
	f.env = &config.Env{Name: "production", Repo: f.origin.dir, Path: filepath.Join(f.mount, "app"), Keep: 3}
	for i := 0; i < n; i++ {
		h := sshtest.StartHost(t, f.mount, sshtest.HostOptions{
			Options:   sshtest.Options{AuthorizedKeys: []ssh.PublicKey{client.Public()}},
			CleanHome: true, // a fresh server's shell: not this machine's ~/.bashrc
		})
		fmt.Fprintln(kh, h.KnownHostsLine())
		f.hosts = append(f.hosts, h)
		f.env.Hosts = append(f.env.Hosts, config.Host{Name: h.Host(), Port: h.Port(), User: h.User()})
	}
	f.origin.commit(nil)
	f.each(func(i int, conn Conn) error { return Setup(ctxFor(t), conn, f.env, f.opts(i)) })
	if _, err := DeployFleet(ctxFor(t), f.env, f.options()); err != nil {
		t.Fatalf("first fleet deploy: %v\n%s", err, f.out)
	}
	return f
}

// dial opens a connection to host h with the real SSH client.
func (f *fleet) dial(ctx context.Context, h config.Host) (Conn, error) {
	return remote.Dial(ctx, remote.Target{Host: h.Name, Port: h.Port, User: h.User, KeyFile: f.key},
		remote.Options{HomeDir: f.home, KnownHostsFiles: []string{f.known}, Stats: &f.stats})
}

func (f *fleet) opts(i int) Options {
	return Options{Host: f.env.Hosts[i].String(), Stdout: f.out, Who: "tester@laptop"}
}

func (f *fleet) options() FleetOptions {
	return FleetOptions{Options: Options{Who: "tester@laptop"}, Dial: f.dial,
		Output: func(config.Host) io.Writer { return f.out }}
}

// each runs fn on every host in parallel over its own connection.
func (f *fleet) each(fn func(i int, conn Conn) error) {
	f.t.Helper()
	errs := make([]error, len(f.hosts))
	var wg sync.WaitGroup
	for i := range f.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := f.dial(ctxFor(f.t), f.env.Hosts[i])
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close()
			errs[i] = fn(i, conn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			f.t.Fatalf("host %d: %v\n%s", i, err, f.out)
		}
	}
}

// server is host i's deploy path as the test sees it (its own Root).
func (f *fleet) server(i int) *server {
	env := *f.env
	env.Path = filepath.Join(f.hosts[i].Root, "app")
	return &server{t: f.t, env: &env, out: f.out}
}

// write puts a file at rel under host i's disk (the host sees it at
// mount/rel).
func (f *fleet) write(i int, rel, content string, mode os.FileMode) string {
	f.t.Helper()
	p := filepath.Join(f.hosts[i].Root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
	return filepath.Join(f.mount, rel)
}

// currents returns each host's current release id.
func (f *fleet) currents() []string {
	var out []string
	for i := range f.hosts {
		out = append(out, f.server(i).current())
	}
	return out
}

// assertFree checks that no host's lock is held: the lock file is empty
// and a flock on it succeeds at once.
func (f *fleet) assertFree() {
	f.t.Helper()
	for i := range f.hosts {
		s := f.server(i)
		if l := s.lockLine(); l != "" {
			f.t.Errorf("host %d: lock still names %q", i, l)
		}
		fd, err := os.OpenFile(filepath.Join(s.env.Path, ".deploy.lock"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.t.Errorf("host %d: lock still held: %v", i, err)
		}
		fd.Close()
	}
}
