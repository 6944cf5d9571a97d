package sshtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHD is the sshd binary the harness runs. sshd re-executes itself, so the
// path must be absolute.
const SSHD = "/usr/sbin/sshd"

// RequireEnv names the environment variable that turns a missing sshd from
// a skip into a failure (CI sets DEPLOY_REQUIRE_SSHD=1).
const RequireEnv = "DEPLOY_REQUIRE_SSHD"

// readyTimeout bounds the wait for sshd to answer after it is started.
const readyTimeout = 20 * time.Second

// Options tunes the sshd a test starts. The zero value is a plain server
// that lets the current user in with the client key.
type Options struct {
	// ExtraConfig are more sshd_config lines (e.g. "MaxSessions 2",
	// "LogLevel DEBUG1"). They go before the defaults: in sshd_config the
	// first value of a keyword wins, so they override them. nil adds none.
	ExtraConfig []string
	// Passphrase, when non-empty, also creates EncryptedKey: a second
	// client key, authorized too, whose file is encrypted with it.
	Passphrase string
	// AuthorizedKeys are more public keys allowed to log in, besides the
	// client key; nil adds none. AuthorizeKey adds keys later.
	AuthorizedKeys []ssh.PublicKey
	// RSAHostKey also gives the server an RSA host key (RSAHostKey()), so
	// it offers two key types; KnownHostsFile still lists only the ed25519
	// one (false = ed25519 only).
	RSAHostKey bool
	// User is the login user (User()); "" means the user running the
	// test. See loginAs for another user.
	User string
	// DropCapabilities are capabilities (setpriv's names, e.g.
	// "linux_immutable") taken out of sshd's bounding set, so no session
	// has them even as root, as in a container's default set; nil drops
	// none.
	DropCapabilities []string
}

// Server is a running sshd on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	t          testing.TB
	dir        string
	port       int
	user       string
	cfgFile    string
	logFile    string
	hostFile   string
	authFile   string
	knownHosts string
	client     *Key
	encrypted  *Key
	extra      []string
	rsaKey     ssh.PublicKey
	dropCaps   []string

	mu      sync.Mutex
	hostKey *Key
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start runs a fresh sshd for the test and stops it in t.Cleanup. It skips
// the test when sshd is not installed, or fails it when DEPLOY_REQUIRE_SSHD=1.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	requireSSHD(t)
	s := newServer(t, opts)
	if opts.RSAHostKey {
		s.rsaKey = newRSAKey(t, filepath.Join(s.dir, "ssh_host_rsa_key"))
		s.extra = append(s.extra, "HostKey "+filepath.Join(s.dir, "ssh_host_rsa_key"))
	}
	if opts.Passphrase != "" {
		s.encrypted = NewKey(t, filepath.Join(s.dir, "id_encrypted"), opts.Passphrase)
		s.AuthorizeKey(t, s.encrypted.Public())
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("sshtest: sshd log %s:\n%s", s.logFile, s.Logs())
		}
	})
	s.startOnFreePort(t)
	writeFile(t, s.knownHosts, []byte(s.KnownHostsLine()+"\n"), 0o600)
	return s
}

// newServer writes a server's host and client keys and authorized_keys
// (the client key plus opts.AuthorizedKeys), without starting it.
func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	dir := t.TempDir()
	s := &Server{
		t:          t,
		dir:        dir,
		user:       u.Username,
		cfgFile:    filepath.Join(dir, "sshd_config"),
		logFile:    filepath.Join(dir, "sshd.log"),
		hostFile:   filepath.Join(dir, "ssh_host_ed25519_key"),
		authFile:   filepath.Join(dir, "authorized_keys"),
		knownHosts: filepath.Join(dir, "known_hosts"),
		extra:      opts.ExtraConfig,
		dropCaps:   opts.DropCapabilities,
	}
	s.hostKey = NewKey(t, s.hostFile, "")
	s.client = NewKey(t, filepath.Join(dir, "id_ed25519"), "")
	for _, k := range append([]ssh.PublicKey{s.client.Public()}, opts.AuthorizedKeys...) {
		s.AuthorizeKey(t, k)
	}
	s.loginAs(t, opts.User)
	return s
}

// requireSSHD skips (or, under DEPLOY_REQUIRE_SSHD=1, fails) a test when
// sshd is not installed.
func requireSSHD(t testing.TB) {
	t.Helper()
	if !requireBinary(t, SSHD, "openssh-server") {
		return
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory; packages create it at
		// boot, containers often lack it.
		_ = os.MkdirAll("/run/sshd", 0o755)
	}
}

// requireBinary reports whether path exists; when it does not, it skips
// the test, or fails it when DEPLOY_REQUIRE_SSHD=1, naming the package to
// install.
func requireBinary(t testing.TB, path, pkg string) bool {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return true
	}
	msg := fmt.Sprintf("sshtest: %s not found; install %s (apt-get install -y %s) to run the SSH tests", path, pkg, pkg)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1 requires it)", msg, RequireEnv)
		return false
	}
	t.Skip(msg)
	return false
}

// startOnFreePort picks a free port and starts sshd on it, retrying with
// another port when one was taken in between.
func (s *Server) startOnFreePort(t testing.TB) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		s.port = port(t)
		if err = s.start(); err == nil {
			return
		}
	}
	t.Fatalf("sshtest: %v\nsshd log:\n%s", err, s.Logs())
}

func (s *Server) config() string {
	lines := append(append([]string(nil), s.extra...),
		"ListenAddress "+s.Addr(),
		"HostKey "+s.hostFile,
		"AuthorizedKeysFile "+s.authFile,
		"PidFile "+filepath.Join(s.dir, "sshd.pid"),
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"AllowAgentForwarding yes",
		"PermitTTY yes",
		"X11Forwarding no",
		"PrintMotd no",
		"PrintLastLog no",
		"LogLevel VERBOSE",
	)
	return strings.Join(lines, "\n") + "\n"
}

// start writes the config and runs sshd, returning once it greets clients.
func (s *Server) start() error {
	args := []string{SSHD, "-D", "-e", "-f", s.cfgFile}
	if len(s.dropCaps) > 0 {
		drop := make([]string, len(s.dropCaps))
		for i, c := range s.dropCaps {
			drop[i] = "-" + c
		}
		args = append([]string{"setpriv", "--bounding-set", strings.Join(drop, ","), "--"}, args...)
	}
	return s.launch(exec.Command(args[0], args[1:]...))
}

// launch writes the config, runs cmd (sshd, or a wrapper that execs it)
// with its output in the log, and returns once sshd greets clients.
func (s *Server) launch(cmd *exec.Cmd) error {
	if err := os.WriteFile(s.cfgFile, []byte(s.config()), 0o600); err != nil {
		return err
	}
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := waitReady(s.Addr(), exited); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// waitReady polls addr until it sends an SSH banner, sshd exits, or
// readyTimeout passes.
func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("sshd exited before accepting connections")
		default:
		}
		if bannerFrom(addr) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("sshd did not answer on %s within %s", addr, readyTimeout)
}

func bannerFrom(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	_, err = c.Read(buf)
	return err == nil && string(buf) == "SSH-"
}

// Stop stops sshd and every process it forked for connections (their
// sessions end). Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	stopSessions(cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart stops sshd and starts it again on the same port, with the
// current host key.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	s.t.Fatalf("sshtest: restart: %v\nsshd log:\n%s", err, s.Logs())
}

// RotateHostKey gives the server a new host key and restarts it, like a
// reinstalled (or impersonated) host. KnownHostsFile keeps the old key, so
// clients using it must now refuse the server. It returns the new key.
func (s *Server) RotateHostKey() ssh.PublicKey {
	s.t.Helper()
	k := NewKey(s.t, s.hostFile, "")
	s.mu.Lock()
	s.hostKey = k
	s.mu.Unlock()
	s.Restart()
	return k.Public()
}

// AuthorizeKey lets key log in as User (sshd reads authorized_keys at
// each login, so this works on a running server).
func (s *Server) AuthorizeKey(t testing.TB, key ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(s.authFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(ssh.MarshalAuthorizedKey(key)); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}

// Addr is the server's address, "127.0.0.1:<port>".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }

// Host is the address sshd listens on: always 127.0.0.1.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is sshd's port.
func (s *Server) Port() int { return s.port }

// User is the login user: Options.User, or the user running the test.
func (s *Server) User() string { return s.user }

// Dir is the server's temp directory (config, keys, log).
func (s *Server) Dir() string { return s.dir }

// HostKey is the server's current public host key.
func (s *Server) HostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostKey.Public()
}

// RSAHostKey is the server's RSA host key, or nil unless
// Options.RSAHostKey.
func (s *Server) RSAHostKey() ssh.PublicKey { return s.rsaKey }

// ClientKey is the (unencrypted) client key authorized to log in.
func (s *Server) ClientKey() *Key { return s.client }

// ClientKeyFile is the path of the client private key (OpenSSH format).
func (s *Server) ClientKeyFile() string { return s.client.File }

// ClientSigner signs with the client key.
func (s *Server) ClientSigner() ssh.Signer { return s.client.Signer }

// EncryptedKey is the authorized client key whose file is encrypted with
// Options.Passphrase, or nil when no passphrase was given.
func (s *Server) EncryptedKey() *Key { return s.encrypted }

// KnownHostsFile is a known_hosts file holding the host key the server
// started with, for Addr. RotateHostKey does not update it.
func (s *Server) KnownHostsFile() string { return s.knownHosts }

// KnownHostsLine is a known_hosts line for Addr and the current host key.
func (s *Server) KnownHostsLine() string { return s.KnownHostsLineFor(s.Addr()) }

// KnownHostsLineFor is a known_hosts line naming addr (host:port, e.g. a
// Cutter in front of the server) with the current host key.
func (s *Server) KnownHostsLineFor(addr string) string {
	return knownhosts.Line([]string{addr}, s.HostKey())
}

// AppendKnownHost adds a line trusting the current host key at addr (e.g.
// a Cutter's address) to the known_hosts file, creating it if needed.
func (s *Server) AppendKnownHost(t testing.TB, file, addr string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(s.KnownHostsLineFor(addr) + "\n"); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}

// LogFile is the path of sshd's log (its stderr, LogLevel VERBOSE).
func (s *Server) LogFile() string { return s.logFile }

// Logs returns sshd's log so far.
func (s *Server) Logs() string {
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// port returns a free loopback port for sshd.
func port(t testing.TB) int {
	t.Helper()
	p, err := freeport.Port()
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return p
}
