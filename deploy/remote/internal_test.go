package remote

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
)

func TestParseJump(t *testing.T) {
	tests := []struct {
		spec       string
		user, host string
		port       int
		wantErr    string
	}{
		{spec: "bastion", host: "bastion"},
		{spec: "ops@bastion", user: "ops", host: "bastion"},
		{spec: "ops@bastion:2200", user: "ops", host: "bastion", port: 2200},
		{spec: "ssh://ops@bastion:2200", user: "ops", host: "bastion", port: 2200},
		{spec: "[::1]:22", host: "::1", port: 22},
		{spec: "a@b@c", user: "a@b", host: "c"},
		{spec: "", wantErr: "empty hop"},
		{spec: "ops@", wantErr: "no host"},
		{spec: "h:0", wantErr: "not a number in 1-65535"},
		{spec: "h:x", wantErr: "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			user, host, port, err := parseJump(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || user != tt.user || host != tt.host || port != tt.port {
				t.Errorf("parseJump = %q %q %d %v, want %q %q %d", user, host, port, err, tt.user, tt.host, tt.port)
			}
		})
	}
}

func TestExpandTokens(t *testing.T) {
	t.Setenv("DEPLOY_TEST_VAR", "v")
	tk := tokens{home: "/home/me", hostName: "10.0.0.1", alias: "web", port: 2222, user: "deploy", localUser: "me"}
	tests := []struct{ in, want, wantErr string }{
		{in: "~/.ssh/id", want: "/home/me/.ssh/id"},
		{in: "~", want: "/home/me"},
		{in: "%d/%r@%h:%p-%n-%u-%k", want: "/home/me/deploy@10.0.0.1:2222-web-me-web"},
		{in: "100%%", want: "100%"},
		{in: "/abs/path", want: "/abs/path"},
		{in: "~root/x", want: "/root/x"},
		{in: "${DEPLOY_TEST_VAR}/x", want: "v/x"},
		{in: "~nosuchuser-deploy/x", wantErr: "no user"},
		{in: "${DEPLOY_UNSET_VAR}", wantErr: "not set"},
		{in: "x%", wantErr: "lone %"},
		{in: "%Z", wantErr: "not a token"},
	}
	for _, tt := range tests {
		got, err := tk.expandPath(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("expand(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestInteractiveGetsAPty(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("TERM", "vt100")
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st Stats
	c, err := Dial(ctx, Target{Host: s.Host(), Port: s.Port()}, Options{HomeDir: home, Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, w, err := os.Pipe() // not a terminal: no raw mode, 80x24
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()              // stdin stays open, as a terminal's does
	var out, errOut bytes.Buffer // a pty merges stderr into stdout
	if err := c.interactive(ctx, "tty; echo $TERM; stty size", r, &out, &errOut); err != nil {
		t.Fatalf("interactive: %v\n%s", err, out.String())
	}
	got := strings.ReplaceAll(out.String(), "\r", "")
	for _, want := range []string{"/dev/pts/", "vt100\n", "24 80\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	err = c.interactive(ctx, "exit 7", r, &out, &errOut)
	if ee, ok := err.(*ExitError); !ok || ee.ExitStatus() != 7 {
		t.Errorf("exit 7: err = %v, want ExitStatus 7", err)
	}
	if st.Sessions.Load() != 2 {
		t.Errorf("Sessions = %d, want 2", st.Sessions.Load())
	}
}
