package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ErrNotRunning is matched (errors.Is) by the error a Client returns when
// nothing answers on the socket.
var ErrNotRunning = errors.New("procmon is not running")

// NotRunningError says the daemon could not be reached.
type NotRunningError struct {
	// Path is the socket's path.
	Path string
	// Err is the dial error.
	Err error
}

// Error implements error.
func (e *NotRunningError) Error() string {
	return fmt.Sprintf("is procmon running? socket %s: %v", e.Path, e.Err)
}

// Unwrap lets errors.Is match ErrNotRunning and the dial error.
func (e *NotRunningError) Unwrap() []error { return []error{ErrNotRunning, e.Err} }

// Hint implements HintError.
func (e *NotRunningError) Hint() string {
	return "start it ('systemctl start procmon@<app>' or 'procmon run -c <app>.toml'), and check that -c names the same config"
}

// RemoteError is a failure the daemon answered with.
type RemoteError struct {
	// Msg is the error; HintMsg, when set, says what to do.
	Msg     string
	HintMsg string
}

// Error implements error.
func (e *RemoteError) Error() string { return e.Msg }

// Hint implements HintError.
func (e *RemoteError) Hint() string { return e.HintMsg }

// Client talks to a daemon's control socket.
type Client struct {
	path string
}

// NewClient returns a Client for the socket at path.
func NewClient(path string) *Client { return &Client{path: path} }

// clientSlack is how long past the server's own bound the client waits.
const clientSlack = 15 * time.Second

// Status asks for the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.do(ctx, Request{Op: OpStatus}, statusTimeout+clientSlack)
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, fmt.Errorf("control socket %s: answer without a status", c.path)
	}
	return *resp.Status, nil
}

// Reload asks for a reload. With wait it returns the verdict, waiting up to
// timeout (zero: DefaultWaitTimeout); without, it returns once the reload is
// queued. ExitCode turns the result into the command's exit status.
func (c *Client) Reload(ctx context.Context, wait bool, timeout time.Duration) (ReloadResult, error) {
	req := Request{Op: OpReload, Wait: wait}
	bound := DefaultWaitTimeout
	if timeout > 0 {
		req.Timeout = timeout.String()
		bound = min(timeout, MaxWaitTimeout)
	}
	resp, err := c.do(ctx, req, bound+clientSlack)
	if err != nil {
		return ReloadResult{}, err
	}
	if resp.Reload == nil {
		return ReloadResult{}, fmt.Errorf("control socket %s: answer without a reload result", c.path)
	}
	return *resp.Reload, nil
}

// do sends req and reads the answer within bound or until ctx ends.
func (c *Client) do(ctx context.Context, req Request, bound time.Duration) (Response, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := d.DialContext(dctx, "unix", c.path)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		if errors.Is(err, os.ErrPermission) {
			return Response{}, NewPermissionError(c.path, 0o060, err)
		}
		return Response{}, &NotRunningError{Path: c.path, Err: err}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn.SetDeadline(time.Now().Add(bound))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Response{}, c.ioError(ctx, "send request", err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return Response{}, c.ioError(ctx, "read answer", err)
	}
	if !resp.OK {
		return resp, &RemoteError{Msg: resp.Error, HintMsg: resp.Hint}
	}
	return resp, nil
}

func (c *Client) ioError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("control socket %s: %s: %w", c.path, what, err)
}
