package remote_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
)

// logs collects Options.Logf notices.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// A deploy.conf `key` naming a .pub file or a file that is no key is what
// `ssh -i` warns about and goes on without (classic deploy passed key to
// ssh -i): the agent and the other keys still log in; a .pub names the
// agent key to offer first.
func TestKeyFileNotAPrivateKeyWarns(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	tests := []struct {
		name     string
		content  func() string
		viaAgent bool
		want     string
	}{
		{"public key, private in the agent", func() string { return string(ssh.MarshalAuthorizedKey(s.ClientKey().Public())) }, true, "is a public key"},
		{"public key, default identity file", func() string { return string(ssh.MarshalAuthorizedKey(s.ClientKey().Public())) }, false, "is a public key"},
		{"not a key", func() string { return "just some text\n" }, false, "is not a private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := sshtest.FakeHome(t, "", s)
			o := remote.Options{HomeDir: home}
			var l logs
			o.Logf = l.logf
			if tt.viaAgent {
				removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
				o.AgentSocket = serveAgent(t, s.ClientKey().Private)
			}
			tg := target(s)
			tg.KeyFile = filepath.Join(t.TempDir(), "deploy_key.pub")
			writeFileT(t, tg.KeyFile, tt.content())
			c := dial(t, tg, o)
			if got := output(t, c, "echo in"); got != "in\n" {
				t.Fatalf("output %q", got)
			}
			wantContains(t, "notices", l.String(), tg.KeyFile, tt.want)
		})
	}
}
