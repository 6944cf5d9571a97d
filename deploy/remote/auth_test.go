package remote_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
)

func TestAuthViaAgent(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
	sock := serveAgent(t, s.ClientKey().Private)

	var st remote.Stats
	c := dial(t, target(s), remote.Options{HomeDir: home, AgentSocket: sock, Stats: &st})
	if got := output(t, c, "echo agent"); got != "agent\n" {
		t.Fatalf("output %q", got)
	}

	// Without the agent no key is left: the login fails with a hint.
	_, err := remote.Dial(ctxT(t), target(s), remote.Options{HomeDir: home})
	if err == nil {
		t.Fatal("Dial logged in with no key at all")
	}
	wantContains(t, "error", err.Error(), "log in to", s.Addr(), "no key was accepted")
	wantContains(t, "hint", hint.Of(err), "authorized_keys", "ssh-add")
}

func TestAuthViaKeyFile(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
	tg := target(s)
	tg.KeyFile = s.ClientKeyFile()
	c := dial(t, tg, remote.Options{HomeDir: home})
	if got := output(t, c, "echo key"); got != "key\n" {
		t.Fatalf("output %q", got)
	}

	tg.KeyFile = filepath.Join(home, "keys", "missing")
	_, err := remote.Dial(ctxT(t), tg, remote.Options{HomeDir: home})
	if err == nil {
		t.Fatal("Dial ignored a missing key file")
	}
	wantContains(t, "error", err.Error(), tg.KeyFile, "no such file")
	wantContains(t, "hint", hint.Of(err), "`key`")
}

func TestAuthDefaultIdentity(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s) // ~/.ssh/id_ed25519 is the client key
	c := dial(t, target(s), remote.Options{HomeDir: home})
	if got := output(t, c, "echo default"); got != "default\n" {
		t.Fatalf("output %q", got)
	}
}

func TestAuthEncryptedKeyPrompt(t *testing.T) {
	isolate(t)
	const pass = "correct horse"
	s := sshtest.Start(t, sshtest.Options{Passphrase: pass})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
	tg := target(s)
	tg.KeyFile = s.EncryptedKey().File

	tests := []struct {
		name      string
		answers   []string
		wantAsks  int
		wantErr   string
		wantHint  string
		nilPrompt bool
	}{
		{name: "right passphrase", answers: []string{pass}, wantAsks: 1},
		{name: "wrong then right", answers: []string{"nope", pass}, wantAsks: 2},
		{name: "always wrong", answers: []string{"a", "b", "c"}, wantAsks: 3, wantErr: "decrypt key " + tg.KeyFile},
		{name: "no prompt", nilPrompt: true, wantErr: "encrypted", wantHint: "ssh-add " + tg.KeyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompts []string
			// Each wrong passphrase costs a bcrypt KDF run, slow under -race
			// on a loaded machine (three of them took over a minute in a
			// make test beside other jobs): the handshake bound, and the
			// test's own deadline, are not what this test is about.
			o := remote.Options{HomeDir: home, ConnectTimeout: 4 * time.Minute}
			if !tt.nilPrompt {
				o.Prompt = func(p string) (string, error) {
					prompts = append(prompts, p)
					if len(prompts) > len(tt.answers) {
						return "", errors.New("asked too often")
					}
					return tt.answers[len(prompts)-1], nil
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), o.ConnectTimeout)
			defer cancel()
			c, err := remote.Dial(ctx, tg, o)
			if len(prompts) != tt.wantAsks {
				t.Errorf("asked %d times (%q), want %d", len(prompts), prompts, tt.wantAsks)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				if got := output(t, c, "echo unlocked"); got != "unlocked\n" {
					t.Errorf("output %q", got)
				}
				if !strings.Contains(prompts[0], tg.KeyFile) {
					t.Errorf("prompt %q does not name the key", prompts[0])
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want an error")
			}
			wantContains(t, "error", err.Error(), tt.wantErr)
			wantContains(t, "hint", hint.Of(err), tt.wantHint)
		})
	}
}

// TestPassphraseOutlastsConnectTimeout: a person slower to type the
// passphrase than ConnectTimeout still logs in, as with OpenSSH, whose
// ConnectTimeout bounds reaching the server, not the prompt.
func TestPassphraseOutlastsConnectTimeout(t *testing.T) {
	isolate(t)
	const pass = "slow typist"
	s := sshtest.Start(t, sshtest.Options{Passphrase: pass})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
	tg := target(s)
	tg.KeyFile = s.EncryptedKey().File
	o := remote.Options{HomeDir: home, ConnectTimeout: 2 * time.Second, Prompt: func(string) (string, error) {
		time.Sleep(3 * time.Second)
		return pass, nil
	}}
	c, err := remote.Dial(ctxT(t), tg, o)
	if err != nil {
		t.Fatalf("Dial with a 3s passphrase and a 2s ConnectTimeout: %v", err)
	}
	defer c.Close()
	if got := output(t, c, "echo typed"); got != "typed\n" {
		t.Errorf("output %q", got)
	}
}

func TestEncryptedKeyNotAskedWhenServerRefusesIt(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	other := sshtest.Start(t, sshtest.Options{Passphrase: "x"}) // its encrypted key is not authorized on s
	home := sshtest.FakeHome(t, "", s)
	tg := target(s)
	tg.KeyFile = other.EncryptedKey().File
	asked := 0
	o := remote.Options{HomeDir: home, Prompt: func(string) (string, error) { asked++; return "x", nil }}
	c := dial(t, tg, o) // logs in with ~/.ssh/id_ed25519
	c.Close()
	if asked != 0 {
		t.Errorf("asked for a passphrase %d times for a key the server does not accept", asked)
	}
}

func TestKeyCacheAsksOncePerDeploy(t *testing.T) {
	isolate(t)
	const pass = "p"
	s := sshtest.Start(t, sshtest.Options{Passphrase: pass})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
	tg := target(s)
	tg.KeyFile = s.EncryptedKey().File
	asked := 0
	var keys remote.KeyCache
	o := remote.Options{HomeDir: home, Keys: &keys, Prompt: func(string) (string, error) { asked++; return pass, nil }}
	for i := 0; i < 3; i++ { // three hosts of one deploy
		dial(t, tg, o).Close()
	}
	if asked != 1 {
		t.Errorf("asked %d times across Dials sharing a KeyCache, want 1", asked)
	}
}
