package demo

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
)

// sshdPath is where Debian's openssh-server puts sshd; the demo uses a
// private one when it is there, and the local transport otherwise.
const sshdPath = "/usr/sbin/sshd"

// privateSSHD is an sshd on 127.0.0.1 that only the demo's own key may use,
// with a home for the deploy client that trusts its host key.
type privateSSHD struct {
	Port int
	User string
	Home string // DEPLOY_SSH_HOME (and HOME) for the deploy client: .ssh/id_ed25519 and known_hosts
	cmd  *exec.Cmd
	log  string
}

// startSSHD generates keys under dir, starts sshd and waits until it
// accepts connections.
func startSSHD(ctx context.Context, dir string) (*privateSSHD, error) {
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	s := &privateSSHD{User: u.Username, Home: filepath.Join(dir, "home"), log: filepath.Join(dir, "sshd.log")}
	sshDir := filepath.Join(s.Home, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return nil, err
	}
	hostKey, clientKey := filepath.Join(dir, "host_ed25519"), filepath.Join(sshDir, "id_ed25519")
	for _, k := range []string{hostKey, clientKey} {
		if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	if s.Port, err = freeport.Port(); err != nil {
		return nil, err
	}
	if err := s.writeFiles(dir, hostKey, clientKey); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755) // privilege separation dir
	}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(sshdPath, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", s.Port), 20*time.Second); err != nil {
		s.Stop()
		log, _ := os.ReadFile(s.log)
		return nil, fmt.Errorf("sshd did not start: %w\n%s", err, log)
	}
	return s, nil
}

func (s *privateSSHD) writeFiles(dir, hostKey, clientKey string) error {
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return err
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		return err
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return err
	}
	fields := strings.Fields(string(hostPub))
	known := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", s.Port, fields[0], fields[1])
	if err := os.WriteFile(filepath.Join(s.Home, ".ssh", "known_hosts"), []byte(known), 0o600); err != nil {
		return err
	}
	cfg := strings.Join([]string{
		"ListenAddress 127.0.0.1:" + strconv.Itoa(s.Port),
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + auth,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + s.User,
	}, "\n") + "\n"
	return os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)
}

// Stop ends sshd.
func (s *privateSSHD) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// waitTCP waits until addr accepts a connection.
func waitTCP(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
