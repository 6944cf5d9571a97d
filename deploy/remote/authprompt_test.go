package remote_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testusers"
)

const pamSecret = "s3cret-Pw 1"

// pamServer is a real sshd that logs a new user (password pamSecret) in
// through PAM with sshd_config AuthenticationMethods methods, and a
// client config at home/.ssh/config naming it "web" with more lines.
func pamServer(t *testing.T, methods string, more ...string) (s *sshtest.Server, user, cfg string) {
	t.Helper()
	u := testusers.AddUser(t)
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(u.Name + ":" + pamSecret + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	s = sshtest.Start(t, sshtest.Options{User: u.Name, ExtraConfig: []string{"UsePAM yes",
		"KbdInteractiveAuthentication yes", "PasswordAuthentication yes", "AuthenticationMethods " + methods}})
	home := sshtest.FakeHome(t, "", s)
	cfg = filepath.Join(home, ".ssh", "config")
	writeFileT(t, cfg, fmt.Sprintf("Host web\n\tHostName 127.0.0.1\n\tPort %d\n\tUser %s\n\tIdentityFile %s\n\tIdentitiesOnly yes\n\tUserKnownHostsFile %s\n\t%s\n",
		s.Port(), u.Name, filepath.Join(home, ".ssh", "id_ed25519"), filepath.Join(home, ".ssh", "known_hosts"), strings.Join(more, "\n\t")))
	return s, u.Name, cfg
}

// sshAsks runs real ssh on cfg ("web"), answering what it asks through
// SSH_ASKPASS (which gets ssh's prompt as its argument) with answer, and
// returns the prompts and whether `id -un` ran.
func sshAsks(t *testing.T, cfg, answer string) (asked []string, loggedIn bool) {
	t.Helper()
	dir := t.TempDir()
	askpass := filepath.Join(dir, "askpass")
	writeFileT(t, askpass, "#!/bin/sh\nprintf '%s\\n' \"$1\" >>"+filepath.Join(dir, "asked")+"\necho '"+answer+"'\n")
	if err := os.Chmod(askpass, 0o755); err != nil {
		t.Fatal(err)
	}
	ssh := exec.Command("ssh", "-F", cfg, "web", "id -un")
	ssh.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	err := ssh.Run()
	b, _ := os.ReadFile(filepath.Join(dir, "asked"))
	if s := strings.TrimSuffix(string(b), "\n"); s != "" {
		asked = strings.Split(s, "\n")
	}
	return asked, err == nil
}

// answering is an Options.Prompt that answers answer and records prompts.
type answering struct {
	mu      sync.Mutex
	answer  string
	prompts []string
}

func (a *answering) prompt(p string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prompts = append(a.prompts, p)
	return a.answer, nil
}

// TestSecondFactorIsAskedAsSSHAsksIt: a server whose sshd_config says
// `AuthenticationMethods publickey,keyboard-interactive` (a one-time code
// through PAM, as the hardening guides set up) or
// `publickey,password` accepts the key, then asks a second question.
// deploy offered keys only, so it failed with "no key was accepted" and a
// hint to fix authorized_keys, though the key was fine. Now it asks the
// question as ssh does (the same prompt text, which the test takes from
// real ssh's SSH_ASKPASS on the same server), up to 3 times; with no one
// to answer it says the key was accepted and what the server wants.
func TestSecondFactorIsAskedAsSSHAsksIt(t *testing.T) {
	isolate(t)
	requireSSH(t)
	for _, tc := range []struct{ name, methods, sshPrompt, asked string }{
		{"keyboard-interactive", "publickey,keyboard-interactive", "(%u@127.0.0.1) Password: ", `keyboard-interactive ("Password:")`},
		{"password", "publickey,password", "%u@127.0.0.1's password: ", "a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, user, cfg := pamServer(t, tc.methods)
			want := strings.ReplaceAll(tc.sshPrompt, "%u", user)
			if asked, ok := sshAsks(t, cfg, pamSecret); !ok || len(asked) != 1 || asked[0] != want {
				t.Fatalf("premise: ssh with the key and askpass: logged in %v, asked %q; want %q asked once", ok, asked, want)
			}

			// deploy, with someone to answer
			a := &answering{answer: pamSecret}
			o := remote.Options{HomeDir: filepath.Dir(filepath.Dir(cfg)), Prompt: a.prompt}
			c := dial(t, target(s), o)
			if got := output(t, c, "id -un"); got != user+"\n" {
				t.Errorf("logged in as %q", got)
			}
			if len(a.prompts) != 1 || a.prompts[0] != want {
				t.Errorf("deploy asked %q; ssh asked %q", a.prompts, want)
			}

			// a wrong answer is asked again, 3 times, as ssh does (PAM
			// waits 2 s after each: once is enough)
			if tc.name == "keyboard-interactive" {
				a.prompts, a.answer = nil, "wrong"
				_, err := remote.Dial(ctxT(t), target(s), o)
				if err == nil || !strings.Contains(err.Error(), "the server refused what was typed at its prompts (3 tries each") || len(a.prompts) != 3 {
					t.Errorf("wrong answer: %v after %d prompts; want the refusal after 3", err, len(a.prompts))
				}
			}

			// no one to answer: the key was fine, say what the server wants
			o.Prompt = nil
			_, err := remote.Dial(ctxT(t), target(s), o)
			var pe *remote.PromptError
			if !errors.As(err, &pe) || !pe.KeyAccepted || pe.Method != tc.name ||
				!strings.Contains(err.Error(), "the server accepted a key, then asked for "+tc.asked) ||
				strings.Contains(err.Error(), "no key was accepted") {
				t.Errorf("without a prompt: %v; want a PromptError saying the key was accepted", err)
			}
			if h := hint.Of(err); !strings.Contains(h, "AuthenticationMethods publickey") || !strings.Contains(h, "Match User "+user) {
				t.Errorf("hint %q", h)
			}
		})
	}
}

// TestLoginQuestionsFollowSSHConfig: with the questions asked, ssh_config's
// own switches for them must hold as they do for ssh: BatchMode yes asks
// nothing, KbdInteractiveAuthentication no (or its old name
// ChallengeResponseAuthentication) and a PreferredAuthentications without
// keyboard-interactive skip the method, NumberOfPasswordPrompts bounds the
// tries. Each case runs real ssh on the same config and server first and
// deploy (through ssh -G and the built-in reader) must ask what it asked
// and log in when it did.
func TestLoginQuestionsFollowSSHConfig(t *testing.T) {
	isolate(t)
	requireSSH(t)
	for _, tc := range []struct {
		line, answer, says string
	}{
		{"BatchMode yes", pamSecret, "BatchMode yes, which asks nothing"},
		{"KbdInteractiveAuthentication no", pamSecret, "which ssh_config turns off for web"},
		{"ChallengeResponseAuthentication no", pamSecret, "which ssh_config turns off for web"},
		{"PreferredAuthentications publickey,password", pamSecret, "which ssh_config turns off for web"},
		{"NumberOfPasswordPrompts 1", "wrong", "the server refused what was typed at its prompts (1 tries each"},
		{"PreferredAuthentications keyboard-interactive,publickey", pamSecret, ""},
	} {
		t.Run(strings.Fields(tc.line)[0]+"="+strings.Fields(tc.line)[1], func(t *testing.T) {
			_, user, cfg := pamServer(t, "publickey,keyboard-interactive", tc.line)
			sshAsked, sshIn := sshAsks(t, cfg, tc.answer)
			if sshIn != (tc.says == "") {
				t.Fatalf("premise: ssh logged in: %v (asked %q)", sshIn, sshAsked)
			}
			forEachResolver(t, "login", func(t *testing.T, res remote.Resolver) {
				a := &answering{answer: tc.answer}
				o := remote.Options{HomeDir: filepath.Dir(filepath.Dir(cfg)), SSHConfigFile: cfg, Resolver: res, Prompt: a.prompt}
				c, err := remote.Dial(ctxT(t), remote.Target{Host: "web"}, o)
				if err == nil {
					defer c.Close()
				}
				if fmt.Sprint(a.prompts) != fmt.Sprint(sshAsked) {
					t.Errorf("deploy asked %q; ssh asked %q", a.prompts, sshAsked)
				}
				switch {
				case tc.says == "" && err != nil:
					t.Errorf("ssh logged in as %s, deploy: %v", user, err)
				case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
					t.Errorf("ssh did not log in; deploy: %v; want it to say %q", err, tc.says)
				}
			})
		})
	}
}

// TestPassphraseQuestionFollowsSSH: ssh asks an encrypted key's
// passphrase with "Enter passphrase for key '<file>': ", and under
// BatchMode yes asks nothing and cannot use the key. deploy asks the same
// words, and with BatchMode yes neither asks nor offers the key.
func TestPassphraseQuestionFollowsSSH(t *testing.T) {
	isolate(t)
	requireSSH(t)
	const pass = "correct horse"
	s, home := encryptedKeyServer(t, pass)
	for _, batch := range []string{"no", "yes"} {
		t.Run("BatchMode="+batch, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config")
			writeFileT(t, cfg, fmt.Sprintf("Host web\n\tHostName 127.0.0.1\n\tPort %d\n\tUser %s\n\tIdentityFile %s\n\tIdentitiesOnly yes\n\tUserKnownHostsFile %s\n\tBatchMode %s\n",
				s.Port(), s.User(), s.EncryptedKey().File, filepath.Join(home, ".ssh", "known_hosts"), batch))
			sshAsked, sshIn := sshAsks(t, cfg, pass)
			if sshIn != (batch == "no") || len(sshAsked) != map[string]int{"no": 1, "yes": 0}[batch] {
				t.Fatalf("premise: ssh logged in %v, asked %q", sshIn, sshAsked)
			}
			forEachResolver(t, "passphrase", func(t *testing.T, res remote.Resolver) {
				a := &answering{answer: pass}
				o := remote.Options{HomeDir: home, SSHConfigFile: cfg, Resolver: res, Prompt: a.prompt}
				c, err := remote.Dial(ctxT(t), remote.Target{Host: "web"}, o)
				if err == nil {
					c.Close()
				}
				if fmt.Sprint(a.prompts) != fmt.Sprint(sshAsked) || (err == nil) != sshIn {
					t.Errorf("deploy asked %q and logged in: %v (%v); ssh asked %q, logged in: %v", a.prompts, err == nil, err, sshAsked, sshIn)
				}
				if batch == "yes" && !strings.Contains(fmt.Sprint(err), "offered 0: ssh-agent, `key`, IdentityFile, ~/.ssh/id_*; 1 encrypted key(s) not offered: ssh_config sets BatchMode yes") {
					t.Errorf("BatchMode yes: %v; want it to say the encrypted key was not offered, and why", err)
				}
			})
		})
	}
}

// encryptedKeyServer is a real sshd that takes only s.EncryptedKey(),
// encrypted with pass, and a home whose .ssh holds no other key.
func encryptedKeyServer(t *testing.T, pass string) (*sshtest.Server, string) {
	t.Helper()
	s := sshtest.Start(t, sshtest.Options{Passphrase: pass})
	home := sshtest.FakeHome(t, "", s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")
	return s, home
}
