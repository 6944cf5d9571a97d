package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// lostWait is how long a session that ended without an exit status waits
// to learn whether the whole connection went down.
const lostWait = 2 * time.Second

// Client is one logged-in SSH connection to a host (through its jump hosts,
// if any). Run and Interactive each open a session on it; it is safe for
// concurrent use. It implements deploy.Conn.
type Client struct {
	r     *Resolved
	o     Options
	auth  *auth
	chain []*ssh.Client
	ssh   *ssh.Client // the last of chain: the host itself

	lost     chan struct{} // closed when the connection ends
	lostErr  error         // why, set before lost closes
	deadMu   sync.Mutex
	deadErr  error // set by the keepalive loop
	done     chan struct{}
	closeMu  sync.Once
	routines sync.WaitGroup

	// fwdMu is held while the first session asks for agent forwarding,
	// so that no session starts before sshd has set it up; fwdDone once
	// it has.
	fwdMu   sync.Mutex
	fwdDone bool

	// env is what every session is given: ssh_config SendEnv's and
	// SetEnv's variables (see sendEnv), read once, as ssh reads its
	// environment at start.
	env []envRequest

	// mux says that sessions go through the OpenSSH ControlMaster at
	// r.Host.ControlPath (mux.go), whose process is muxPid; ssh and
	// chain are nil then.
	mux    bool
	muxPid int
}

// newMuxClient is a Client whose sessions go through the ControlMaster
// at r.Host.ControlPath, process pid.
func newMuxClient(r *Resolved, o Options, pid int) *Client {
	return &Client{r: r, o: o, auth: &auth{}, mux: true, muxPid: pid,
		lost: make(chan struct{}), done: make(chan struct{}), env: sessionEnv(r.Host)}
}

func newClient(r *Resolved, o Options, a *auth, chain []*ssh.Client) *Client {
	c := &Client{r: r, o: o, auth: a, chain: chain, ssh: chain[len(chain)-1],
		lost: make(chan struct{}), done: make(chan struct{}), env: sessionEnv(r.Host)}
	c.routines.Add(1)
	go func() {
		defer c.routines.Done()
		err := c.ssh.Wait()
		if err == nil {
			err = io.EOF
		}
		c.lostErr = err
		close(c.lost)
	}()
	if interval, count := o.keepAlive(r.Host); interval > 0 {
		c.routines.Add(1)
		go c.keepAlive(interval, count)
	}
	return c
}

// String names the host as "user@host:port".
func (c *Client) String() string { return c.r.Host.String() }

// Addr is the host's "host:port".
func (c *Client) Addr() string { return c.r.Host.Addr() }

// User is the login user.
func (c *Client) User() string { return c.r.Host.User }

// Endpoint is the host as resolved through ssh_config.
func (c *Client) Endpoint() Endpoint { return c.r.Host }

// Close closes the connection and its jump connections, and stops the
// keepalives. Closing twice is harmless.
func (c *Client) Close() error {
	c.closeMu.Do(func() {
		close(c.done)
		closeChain(c.chain)
		c.auth.close()
		if c.mux { // nothing else ends it
			c.lostErr = io.EOF
			close(c.lost)
		}
	})
	c.routines.Wait()
	return nil
}

// keepAlive probes the connection every interval (keepalive@openssh.com,
// as ServerAliveInterval does) and closes it after count probes in a row
// went unanswered.
func (c *Client) keepAlive(interval time.Duration, count int) {
	defer c.routines.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending chan error
	missed := 0
	for {
		select {
		case <-c.done:
			return
		case <-c.lost:
			return
		case err := <-pending:
			pending, missed = nil, 0
			if err != nil {
				return
			}
		case <-t.C:
			if pending == nil {
				pending = c.ping()
				continue
			}
			if missed++; missed >= count {
				c.deadMu.Lock()
				c.deadErr = fmt.Errorf("the connection died: no answer to %d keepalives in %s", count, time.Duration(count+1)*interval)
				c.deadMu.Unlock()
				_ = c.ssh.Close()
				return
			}
		}
	}
}

func (c *Client) ping() chan error {
	ch := make(chan error, 1)
	go func() {
		// Any reply, even "unknown request", proves the peer is alive.
		_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
		ch <- err
	}()
	return ch
}

// connLost describes a connection that went down, or returns nil while it
// is up.
func (c *Client) connLost() error {
	select {
	case <-c.lost:
	default:
		return nil
	}
	select {
	case <-c.done:
		return fmt.Errorf("connection to %s is closed", c)
	default:
	}
	c.deadMu.Lock()
	err := c.deadErr
	c.deadMu.Unlock()
	if err == nil {
		err = fmt.Errorf("the connection died: %w", c.lostErr)
	}
	return &Error{Op: "connection to", Host: c.String(), Err: err,
		hint: "check the network and that the host is up, then run the command again"}
}

// session opens a session, with the agent forwarded when asked. With
// ssh_config RemoteCommand set for the host it refuses, as OpenSSH does
// before it connects ("Cannot execute command-line and remote command"):
// every session runs a command of deploy's, and ignoring RemoteCommand
// would run it elsewhere than where `ssh host` lands (`sudo -iu deploy`
// logs in as one user and works as another).
func (c *Client) session() (*ssh.Session, error) {
	if err := c.refuseRemoteCommand(); err != nil {
		return nil, err
	}
	if err := c.connLost(); err != nil {
		return nil, err
	}
	s, err := c.ssh.NewSession()
	if err != nil {
		if lost := c.connLost(); lost != nil {
			return nil, lost
		}
		return nil, fmt.Errorf("open session on %s: %w", c, err)
	}
	if c.o.Stats != nil {
		c.o.Stats.Sessions.Add(1)
	}
	if err := c.sendEnv(s); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := c.requestForwarding(s); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// refuseRemoteCommand is the refusal of ssh_config RemoteCommand that
// every session starts with (session, muxSession).
func (c *Client) refuseRemoteCommand() error {
	rc := c.r.Host.RemoteCommand
	if rc == "" {
		return nil
	}
	where := c.o.configName()
	if at := c.r.Host.RemoteCommandAt; at != "" {
		where = at
	}
	return &Error{Op: "run a command on", Host: c.String(),
		Err:  fmt.Errorf("ssh_config sets RemoteCommand %q for %s (%s), and OpenSSH refuses a command line beside it (\"Cannot execute command-line and remote command\"): every command of deploy's is one", rc, c.r.Host.Alias, where),
		hint: "keep RemoteCommand for interactive logins: put it under a Host alias of its own, or set RemoteCommand none in a block that matches " + c.r.Host.Alias + " first"}
}

// envRequest is an "env" channel request's payload (RFC 4254 6.4).
type envRequest struct{ Name, Value string }

// sessionEnv is what ssh_config's SendEnv and SetEnv give each session,
// as OpenSSH's client_session2_setup sends it: the local environment's
// variables whose names match a SendEnv pattern, in environ's order, then
// SetEnv's (nil with neither keyword).
func sessionEnv(h Endpoint) []envRequest {
	var reqs []envRequest
	if len(h.SendEnv) > 0 {
		for _, kv := range os.Environ() {
			name, value, ok := strings.Cut(kv, "=")
			if ok && name != "" && slices.ContainsFunc(h.SendEnv, func(p string) bool { return wildcard(p, name) }) {
				reqs = append(reqs, envRequest{name, value})
			}
		}
	}
	for _, kv := range h.SetEnv {
		name, value, _ := strings.Cut(kv, "=")
		reqs = append(reqs, envRequest{name, value})
	}
	return reqs
}

// sendEnv gives the session c.env. Like OpenSSH it asks for no reply:
// sshd keeps what its AcceptEnv allows and silently drops the rest, and
// no round trip is added to any session.
func (c *Client) sendEnv(s *ssh.Session) error {
	for _, r := range c.env {
		if _, err := s.SendRequest("env", false, ssh.Marshal(&r)); err != nil {
			if lost := c.connLost(); lost != nil {
				return lost
			}
			return fmt.Errorf("send %s's value (ssh_config SendEnv/SetEnv) to %s: %w", r.Name, c, err)
		}
	}
	return nil
}

// forwardAgent reports whether sessions get the local agent: asked for,
// and an agent reachable (Dial warned otherwise).
func (c *Client) forwardAgent() bool { return c.r.ForwardAgent && c.auth.agent != nil }

// requestForwarding asks sshd to forward the agent, on the first session
// only: OpenSSH sets up one agent socket per connection, gives every later
// session its SSH_AUTH_SOCK, and refuses a second request.
func (c *Client) requestForwarding(s *ssh.Session) error {
	if !c.forwardAgent() {
		return nil
	}
	c.fwdMu.Lock()
	defer c.fwdMu.Unlock()
	if c.fwdDone {
		return nil
	}
	if err := agent.RequestAgentForwarding(s); err != nil {
		return fmt.Errorf("request agent forwarding on %s: %w", c, err)
	}
	c.fwdDone = true
	return nil
}

// Run runs cmd through the login user's shell on the host, with stdin as
// its input (nil = empty) and its output copied to stdout and stderr (nil
// = discarded). A non-zero exit is an *ExitError. Cancelling ctx sends
// SIGTERM to the command's process group and waits up to Options.StopGrace
// for it to exit (sshd refuses signals on root logins: then there is no
// wait), closes the session and returns an error wrapping ctx.Err(); a
// command that outlives the session dies at its next write (SIGPIPE). A
// connection that dies makes Run return an *Error saying so.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	if c.mux {
		return c.muxRun(ctx, cmd, stdin, stdout, stderr)
	}
	s, err := c.session()
	if err != nil {
		return err
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	if err := s.Start(cmd); err != nil {
		return fmt.Errorf("start command on %s: %w", c, err)
	}
	return c.wait(ctx, s)
}

// wait waits for a started session, honouring ctx and a lost connection.
func (c *Client) wait(ctx context.Context, s *ssh.Session) error {
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		return c.exitError(err)
	case <-ctx.Done():
		if sendSignal(s, ssh.SIGTERM) {
			select {
			case <-done:
			case <-c.lost:
			case <-time.After(c.o.StopGrace):
			}
		}
		_ = s.Close()
		return fmt.Errorf("run on %s: %w", c, ctx.Err())
	}
}

// sendSignal asks sshd to send sig to the session's process group and reports
// whether it agreed. OpenSSH refuses for root logins (it needs privilege
// separation); then only closing the session is left, which cuts the
// command's stdin and output (its next write fails with SIGPIPE).
func sendSignal(s *ssh.Session, sig ssh.Signal) bool {
	msg := struct{ Signal string }{string(sig)}
	ok, err := s.SendRequest("signal", true, ssh.Marshal(&msg))
	return err == nil && ok
}

// exitError turns a session's end into the error Run returns.
func (c *Client) exitError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Host: c.String(), Status: ee.ExitStatus(), Signal: ee.Signal()}
	}
	// No exit status: most likely the connection went down under us.
	select {
	case <-c.lost:
	case <-time.After(lostWait):
	}
	if lost := c.connLost(); lost != nil {
		return lost
	}
	return fmt.Errorf("run on %s: %w", c, err)
}
