package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Dial resolves t through ssh_config, connects (through each ProxyJump hop
// in turn, each with the same host key checks and auth), logs in and
// returns the connection. Every Run and Interactive opens a session on it.
func Dial(ctx context.Context, t Target, o Options) (*Client, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := Resolve(t, o)
	if err != nil {
		return nil, err
	}
	if pid, ok := useMaster(r.Host, o); ok { // silently, as ssh does
		return newMuxClient(r, o, pid), nil
	}
	a := newAuth(o, r.AgentSocket)
	if r.ForwardAgent && a.agent == nil {
		// As `ssh -A` does: the login may not need the agent, and the
		// server's commands may not either.
		a.log("forward-agent is set but no ssh-agent is reachable; continuing without forwarding")
	}
	var chain []*ssh.Client
	var via *ssh.Client
	for i, e := range append(append([]Endpoint(nil), r.Jumps...), r.Host) {
		sc, err := dialHop(ctx, via, e, a, o, i < len(r.Jumps))
		if err != nil {
			closeChain(chain)
			a.close()
			if i < len(r.Jumps) {
				return nil, fmt.Errorf("reach %s via jump host %s: %w", r.Host, e, err)
			}
			return nil, err
		}
		chain = append(chain, sc)
		via = sc
	}
	c := newClient(r, o, a, chain)
	if c.forwardAgent() {
		// Serves the server's requests for the agent, on every session
		// that got forwarding; the request itself is per connection
		// (Client.session).
		if err := agent.ForwardToAgent(c.ssh, a.agent); err != nil {
			c.Close()
			return nil, fmt.Errorf("forward agent to %s: %w", c, err)
		}
	}
	return c, nil
}

// closeChain closes connections last first (tunnels before what carries them).
func closeChain(chain []*ssh.Client) {
	for i := len(chain) - 1; i >= 0; i-- {
		_ = chain[i].Close()
	}
}

// dialHop opens one SSH connection to e: directly, through its
// ProxyCommand, or tunnelled through via. jump says e is a jump host, not
// the destination.
func dialHop(ctx context.Context, via *ssh.Client, e Endpoint, a *auth, o Options, jump bool) (*ssh.Client, error) {
	hk, err := newHostKeys(e, o, jump)
	if err != nil {
		return nil, &Error{Op: "connect to", Host: e.String(), Err: err, hint: hint.Of(err)}
	}
	signers, err := a.signers(e)
	if err != nil {
		return nil, err
	}
	timeout := o.connectTimeout(e)
	var stop func() bool // set before the handshake starts
	var disarmed atomic.Bool
	disarm := func() {
		if stop() {
			disarmed.Store(true)
		}
	}
	st := &loginState{}
	methods, err := a.loginMethods(e, signers, st, disarm)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:              e.User,
		Auth:              methods,
		AuthCallback:      st.callback,
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hk.algorithms(e.knownHostsName()),
		Timeout:           timeout,
	}
	// what a timeout error names: ConnectTimeout, or the caller's own
	// deadline when that comes first
	limit := timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < limit {
		limit = max(time.Until(dl), 0).Round(time.Millisecond)
	}
	parent := ctx
	var cancel context.CancelFunc
	var conn net.Conn
	// ssh_config ConnectionAttempts: a TCP connect that fails is tried
	// again a second later, as ssh does (not a name that does not
	// resolve, which ssh looks up once, nor a ProxyCommand or a hop
	// through a jump host, which ssh does not retry either)
	for attempt := 1; ; attempt++ {
		ctx, cancel = context.WithTimeout(parent, timeout)
		conn, err = dialConn(ctx, via, e, o)
		var dns *net.DNSError
		if err == nil || attempt >= e.ConnectionAttempts || via != nil || e.ProxyCommand != "" ||
			errors.As(err, &dns) || parent.Err() != nil {
			break
		}
		cancel()
		if o.Logf != nil {
			o.Logf("connect to %s: %v; trying again (ssh_config ConnectionAttempts %d)", e, err, e.ConnectionAttempts)
		}
		select {
		case <-time.After(time.Second):
		case <-parent.Done():
		}
	}
	defer cancel()
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("connect to %s: %w", e, ctx.Err())
		}
		if n := e.ConnectionAttempts; n > 1 && via == nil && e.ProxyCommand == "" {
			err = fmt.Errorf("%w (%d attempts, ssh_config ConnectionAttempts)", err, n)
		}
		return nil, connectError(ctx, e, err, limit, o)
	}
	// The handshake has no context of its own: closing the connection is
	// what interrupts it.
	// A passphrase prompt disarms it (promptSafe): the server answered.
	stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(conn, e.knownHostsName(), cfg)
	if !stop() && !disarmed.Load() && err == nil {
		_ = cc.Close()
		err = ctx.Err()
	}
	if err != nil {
		_ = conn.Close()
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("connect to %s: %w", e, ctx.Err())
		}
		return nil, handshakeError(ctx, e, proxyError(conn, err), st, limit, o)
	}
	if o.Stats != nil {
		o.Stats.Connections.Add(1)
	}
	return ssh.NewClient(cc, chans, reqs), nil
}

// dialConn opens the byte stream to e: through via, through e's
// ProxyCommand, or over TCP.
func dialConn(ctx context.Context, via *ssh.Client, e Endpoint, o Options) (net.Conn, error) {
	switch {
	case via != nil:
		return via.DialContext(ctx, "tcp", e.Addr())
	case e.ProxyCommand != "":
		return startProxy(e, o)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", e.Addr())
}

// connectError explains a failed TCP connect.
func connectError(ctx context.Context, e Endpoint, err error, limit time.Duration, o Options) error {
	where := fmt.Sprintf("check `host` and `port` in deploy.conf (or HostName and Port in %s)", o.configName())
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Op: "connect to", Host: e.String(), Err: errors.New("connection refused"),
			hint: fmt.Sprintf("is sshd running on %s and listening on port %d? %s", e.HostName, e.Port, where)}
	case errors.As(err, &dns):
		return &Error{Op: "connect to", Host: e.String(), Err: err, hint: where}
	case isTimeout(ctx, err):
		return &Error{Op: "connect to", Host: e.String(), Err: fmt.Errorf("timed out after %s", limit),
			hint: fmt.Sprintf("check that %s is up and reachable on port %d (firewall, VPN?); %s", e.HostName, e.Port, where)}
	}
	return &Error{Op: "connect to", Host: e.String(), Err: err}
}

// handshakeError explains a failed SSH handshake or login.
func handshakeError(ctx context.Context, e Endpoint, err error, st *loginState, limit time.Duration, o Options) error {
	var hke *HostKeyError
	login := loginError(e, err, st)
	switch {
	case errors.As(err, &hke):
		return &Error{Op: "connect to", Host: e.String(), Err: hke}
	case login != nil:
		return login
	case e.ProxyCommand != "":
		return &Error{Op: "connect to", Host: e.String(), Err: err,
			hint: fmt.Sprintf("check the ProxyCommand for %s in %s: %s", e.Alias, o.configName(), e.ProxyCommand)}
	case isTimeout(ctx, err):
		return &Error{Op: "connect to", Host: e.String(), Err: fmt.Errorf("ssh handshake timed out after %s", limit),
			hint: "the port answers but no SSH server replied in time: check the port, or raise the timeout if the host is very slow"}
	}
	return &Error{Op: "connect to", Host: e.String(), Err: err}
}

func isTimeout(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
