package remote_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testusers"
)

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
	const secret = "s3cret-Pw 1"
	for _, tc := range []struct{ name, methods, sshPrompt, asked string }{
		{"keyboard-interactive", "publickey,keyboard-interactive", "(%u@127.0.0.1) Password: ", `keyboard-interactive ("Password:")`},
		{"password", "publickey,password", "%u@127.0.0.1's password: ", "a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := testusers.AddUser(t)
			cmd := exec.Command("chpasswd")
			cmd.Stdin = strings.NewReader(u.Name + ":" + secret + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("chpasswd: %v %s", err, out)
			}
			s := sshtest.Start(t, sshtest.Options{User: u.Name, ExtraConfig: []string{"UsePAM yes",
				"KbdInteractiveAuthentication yes", "PasswordAuthentication yes", "AuthenticationMethods " + tc.methods}})
			home := sshtest.FakeHome(t, "", s)
			want := strings.ReplaceAll(tc.sshPrompt, "%u", u.Name)

			// real ssh: the key, then the question (asked through askpass,
			// which gets ssh's prompt as its argument)
			dir := t.TempDir()
			askpass := filepath.Join(dir, "askpass")
			writeFileT(t, askpass, "#!/bin/sh\nprintf '%s\\n' \"$1\" >>"+filepath.Join(dir, "asked")+"\necho '"+secret+"'\n")
			if err := os.Chmod(askpass, 0o755); err != nil {
				t.Fatal(err)
			}
			ssh := exec.Command("ssh", "-F", "none", "-o", "IdentitiesOnly=yes", "-i", filepath.Join(home, ".ssh", "id_ed25519"),
				"-o", "UserKnownHostsFile="+filepath.Join(home, ".ssh", "known_hosts"), "-p", strconv.Itoa(s.Port()), u.Name+"@127.0.0.1", "id -un")
			ssh.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
			out, err := ssh.CombinedOutput()
			asked, _ := os.ReadFile(filepath.Join(dir, "asked"))
			if err != nil || !strings.HasSuffix(string(out), u.Name+"\n") || string(asked) != want+"\n" {
				t.Fatalf("premise: ssh with the key and askpass: %v, %q, asked %q; want %q asked once", err, out, asked, want)
			}

			// deploy, with someone to answer
			var mu sync.Mutex
			var prompts []string
			answer := secret
			o := remote.Options{HomeDir: home, Prompt: func(p string) (string, error) {
				mu.Lock()
				defer mu.Unlock()
				prompts = append(prompts, p)
				return answer, nil
			}}
			c := dial(t, target(s), o)
			if got := output(t, c, "id -un"); got != u.Name+"\n" {
				t.Errorf("logged in as %q", got)
			}
			if len(prompts) != 1 || prompts[0] != want {
				t.Errorf("deploy asked %q; ssh asked %q", prompts, want)
			}

			// a wrong answer is asked again, 3 times, as ssh does (PAM
			// waits 2 s after each: once is enough)
			if tc.name == "keyboard-interactive" {
				prompts, answer = nil, "wrong"
				_, err = remote.Dial(ctxT(t), target(s), o)
				if err == nil || !strings.Contains(err.Error(), "the server refused what was typed at its prompts (3 tries each") || len(prompts) != 3 {
					t.Errorf("wrong answer: %v after %d prompts; want the refusal after 3", err, len(prompts))
				}
			}

			// no one to answer: the key was fine, say what the server wants
			o.Prompt = nil
			_, err = remote.Dial(ctxT(t), target(s), o)
			var pe *remote.PromptError
			if !errors.As(err, &pe) || !pe.KeyAccepted || pe.Method != tc.name ||
				!strings.Contains(err.Error(), "the server accepted a key, then asked for "+tc.asked) ||
				strings.Contains(err.Error(), "no key was accepted") {
				t.Errorf("without a prompt: %v; want a PromptError saying the key was accepted", err)
			}
			t.Logf("without a prompt: %v\nhint: %s", err, hint.Of(err))
			if h := hint.Of(err); !strings.Contains(h, "AuthenticationMethods publickey") || !strings.Contains(h, "Match User "+u.Name) {
				t.Errorf("hint %q", h)
			}
		})
	}
}
