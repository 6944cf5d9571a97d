package remote

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyProblem says why a host key was refused.
type HostKeyProblem int

// The host key problems.
const (
	// HostKeyUnknown: no known_hosts file has a key for the host.
	HostKeyUnknown HostKeyProblem = iota + 1
	// HostKeyChanged: known_hosts has a different key for the host.
	HostKeyChanged
)

// String names the problem.
func (p HostKeyProblem) String() string {
	switch p {
	case HostKeyUnknown:
		return "unknown"
	case HostKeyChanged:
		return "changed"
	}
	return fmt.Sprintf("HostKeyProblem(%d)", int(p))
}

// HostKeyError is a host key refused because it is unknown or changed. Its
// Hint says what to do.
type HostKeyError struct {
	// Problem is why the key was refused.
	Problem HostKeyProblem
	// Host is the address as looked up in known_hosts ("[host]:port" form
	// for a port other than 22).
	Host string
	// KeyType and Fingerprint (SHA256:…) describe the key the server showed.
	KeyType, Fingerprint string
	// KnownHostsFile is where the key was looked up (the first file: the one
	// Options.AcceptNew and Trust write to).
	KnownHostsFile string
	// File and Line locate the known key that no longer matches, with its
	// type and fingerprint (HostKeyChanged only).
	File                        string
	Line                        int
	KnownType, KnownFingerprint string
}

// Error describes the refusal, loudly for a changed key.
func (e *HostKeyError) Error() string {
	if e.Problem == HostKeyChanged {
		return fmt.Sprintf("host key CHANGED for %s: the server now shows %s %s, but %s:%d has %s %s; "+
			"someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled",
			e.Host, e.KeyType, e.Fingerprint, e.File, e.Line, e.KnownType, e.KnownFingerprint)
	}
	return fmt.Sprintf("unknown host key for %s: %s %s (not in %s)", e.Host, e.KeyType, e.Fingerprint, e.KnownHostsFile)
}

// Hint says how to resolve the refusal. It names the safe step, `deploy
// <env> trust`, which records a first-seen key and runs nothing (the CLI
// fills in the env); never a deploy with --accept-new.
func (e *HostKeyError) Hint() string {
	if e.Problem == HostKeyChanged {
		return fmt.Sprintf("if you know the host was reinstalled, remove the old key with "+
			"'ssh-keygen -R %s -f %s', check the new fingerprint with the host's admin, then run 'deploy <env> trust'; "+
			"neither trust nor --accept-new ever replaces a known key", e.Host, e.File)
	}
	return fmt.Sprintf("check the fingerprint with the host's admin, then run 'deploy <env> trust' to record it in %s "+
		"(it connects, shows the key and runs nothing)", e.KnownHostsFile)
}

// HostKey is a host key a connection checked and accepted.
type HostKey struct {
	// Host is the address as looked up in known_hosts ("[host]:port" form
	// for a port other than 22).
	Host string
	// Type is the key's algorithm, e.g. "ssh-ed25519".
	Type string
	// Fingerprint is the key's SHA256 fingerprint as `ssh-keygen -l`
	// shows it: "SHA256:" and unpadded base64.
	Fingerprint string
	// Added is true when the key was unknown and AcceptNew recorded it in
	// File; false = known_hosts already had it.
	Added bool
	// File is the known_hosts file the key was recorded in ("" unless
	// Added).
	File string
	// Jump is true for a ProxyJump hop on the way to the host.
	Jump bool
}

// hostKeyLog collects the key each hop of a Dial accepted, for Trust.
type hostKeyLog struct {
	mu   sync.Mutex
	keys []HostKey
}

func (l *hostKeyLog) add(k HostKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, k)
}

func (l *hostKeyLog) list() []HostKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.keys)
}

// hostKeys checks host keys against known_hosts files and, with
// acceptNew, records first-seen keys in the first user file.
type hostKeys struct {
	files     []string // the user's files: new keys go to the first
	acceptNew bool
	noIP      bool                  // record the name only (HostKeyAlias, ProxyCommand)
	checkIP   bool                  // CheckHostIP: record the address too
	hash      bool                  // HashKnownHosts: record names hashed
	db        *knownhosts.HostKeyDB // nil when no file exists yet
	logf      func(format string, args ...any)
	// seen, when not nil, receives the key accepted (Trust shows them, so
	// an added key is not logged as well).
	seen *hostKeyLog
	jump bool // the hop is a jump host

	mu       sync.Mutex
	added    ssh.PublicKey // recorded by this connection: a re-key shows it again
	reported bool          // seen has this connection's key
}

// newHostKeys reads e's known_hosts files: its user files, then the
// global ones (read only). StrictHostKeyChecking accept-new acts as
// Options.AcceptNew; no is refused, since deploy always checks keys.
func newHostKeys(e Endpoint, o Options, jump bool) (*hostKeys, error) {
	if e.StrictHostKeyChecking == "false" {
		return nil, &Error{Op: "check host key of", Host: e.Alias, Err: errors.New("ssh_config sets StrictHostKeyChecking no, and deploy always checks host keys"),
			hint: fmt.Sprintf("remove `StrictHostKeyChecking no` for %s from %s, or set it to accept-new to trust a key seen for the first time "+
				"(or run 'deploy <env> trust' once)", e.Alias, o.configName())}
	}
	h := &hostKeys{files: e.KnownHostsFiles, acceptNew: o.AcceptNew || e.StrictHostKeyChecking == "accept-new",
		noIP: e.HostKeyAlias != "" || e.ProxyCommand != "", checkIP: e.CheckHostIP, hash: e.HashKnownHosts,
		logf: o.Logf, seen: o.seen, jump: jump}
	var existing []string
	for _, f := range append(slices.Clone(e.KnownHostsFiles), e.GlobalKnownHostsFiles...) {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read known_hosts: %w", err)
		}
	}
	if len(h.files) == 0 && len(existing) == 0 {
		return nil, errors.New("no known_hosts file to check host keys against (UserKnownHostsFile none?)")
	}
	if len(existing) > 0 {
		db, err := knownhosts.NewDB(existing...)
		if err != nil {
			return nil, fmt.Errorf("read known_hosts: %w", err)
		}
		h.db = db
	}
	return h, nil
}

// writeFile is the file new keys go to, and the one messages name.
func (h *hostKeys) writeFile() string {
	if len(h.files) == 0 {
		return "(no UserKnownHostsFile)"
	}
	return h.files[0]
}

// algorithms lists host key algorithms with those of the keys already
// known for addr first, so the server shows the key we can check.
func (h *hostKeys) algorithms(addr string) []string {
	var known []string
	if h.db != nil {
		known = h.db.HostKeyAlgorithms(addr)
	}
	if len(known) == 0 {
		return nil // x/crypto's defaults
	}
	out := slices.Clone(known)
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// check is the ssh.HostKeyCallback. x/crypto calls it at every key
// exchange, re-keys included.
func (h *hostKeys) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.added != nil && bytes.Equal(h.added.Marshal(), key.Marshal()) {
		return nil // recorded at the first key exchange; the db predates it
	}
	if _, ok := remote.(*net.TCPAddr); !ok || h.noIP {
		// Looked up (and recorded) by name only: no address to check.
		remote = &net.TCPAddr{IP: net.IPv4zero}
	}
	var err error = &xknownhosts.KeyError{}
	if h.db != nil {
		err = h.db.HostKeyCallback()(hostname, remote, key)
	}
	seen := HostKey{Host: knownhosts.Normalize(hostname), Type: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), Jump: h.jump}
	if err == nil {
		h.accept(seen)
		return nil
	}
	herr := &HostKeyError{Host: seen.Host, KeyType: seen.Type, Fingerprint: seen.Fingerprint, KnownHostsFile: h.writeFile()}
	var ke *xknownhosts.KeyError
	switch {
	case !errors.As(err, &ke):
		return fmt.Errorf("check host key of %s: %w", herr.Host, err)
	case len(ke.Want) > 0:
		w := ke.Want[0]
		herr.Problem, herr.File, herr.Line = HostKeyChanged, w.Filename, w.Line
		herr.KnownType, herr.KnownFingerprint = w.Key.Type(), ssh.FingerprintSHA256(w.Key)
		return herr
	case !h.acceptNew || len(h.files) == 0:
		herr.Problem = HostKeyUnknown
		return herr
	}
	if err := h.record(hostname, remote, key); err != nil {
		return fmt.Errorf("record host key of %s in %s: %w", herr.Host, h.files[0], err)
	}
	h.added = key
	seen.Added, seen.File = true, h.files[0]
	if h.logf != nil && h.seen == nil {
		h.logf("added host key of %s (%s %s) to %s", seen.Host, seen.Type, seen.Fingerprint, seen.File)
	}
	h.accept(seen)
	return nil
}

// accept hands an accepted key to seen, once per connection.
func (h *hostKeys) accept(k HostKey) {
	if h.seen != nil && !h.reported {
		h.reported = true
		h.seen.add(k)
	}
}

// record appends key to the first known_hosts file in one write, creating
// the file (0600) and its directory (0700) if needed. It writes what ssh
// writes: the name ("[host]:port", or the HostKeyAlias), with CheckHostIP
// the address too ("host,address" on one line) unless it is a loopback
// one, and with HashKnownHosts each hashed on a line of its own.
func (h *hostKeys) record(hostname string, remote net.Addr, key ssh.PublicKey) error {
	names := []string{knownhosts.Normalize(hostname)}
	// as ssh: no address for a loopback one (a home shared over NFS has
	// another "localhost" on each machine) or one that is the name
	tcp, ok := remote.(*net.TCPAddr)
	if ip := knownhosts.Normalize(remote.String()); h.checkIP && ok && !tcp.IP.IsLoopback() && !tcp.IP.IsUnspecified() && ip != names[0] {
		names = append(names, ip)
	}
	for _, n := range names {
		if strings.ContainsAny(n, " \t") {
			return fmt.Errorf("host name %q contains a space", n)
		}
	}
	keyText := key.Type() + " " + base64.StdEncoding.EncodeToString(key.Marshal()) + "\n"
	lines := strings.Join(names, ",") + " " + keyText
	if h.hash {
		lines = ""
		for _, n := range names {
			lines += xknownhosts.HashHostname(n) + " " + keyText
		}
	}
	file := h.files[0]
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var b strings.Builder
	if !endsWithNewline(f) {
		b.WriteByte('\n')
	}
	b.WriteString(lines)
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// endsWithNewline reports whether f is empty or ends with a newline, so an
// appended line does not glue onto a last line that lacks one.
func endsWithNewline(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return true
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil {
		return true
	}
	return b[0] == '\n'
}
