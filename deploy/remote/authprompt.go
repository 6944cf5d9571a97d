package remote

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// loginState is what the server said during one login: the methods it
// allows after the last attempt, those that succeeded partially (with
// `AuthenticationMethods publickey,keyboard-interactive` sshd accepts the
// key, then asks for a second factor) and whether a person was asked.
type loginState struct {
	mu      sync.Mutex
	allowed []string
	partial []string
	asked   bool
	// offered counts the keys offered, left the encrypted keys BatchMode
	// kept back (nothing can ask their passphrase).
	offered, left int
}

// callback records the server's answers; returning no method lets
// x/crypto take the next of ClientConfig.Auth, in order.
func (st *loginState) callback(ctx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.allowed, st.partial = ctx.AllowedMethods, ctx.PartialSuccessMethods
	return nil, nil
}

func (st *loginState) keyAccepted() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Contains(st.partial, "publickey")
}

// PromptError is a keyboard-interactive question or password prompt the
// server asked that no one could answer (no Options.Prompt, or no
// terminal): the login fails with it, as `ssh -o BatchMode=yes` does.
type PromptError struct {
	// Method is keyboard-interactive or password; Question is the
	// server's ("Password: ", "Verification code: ").
	Method, Question string
	// KeyAccepted says a key was accepted first (partial success): the
	// question is a second factor.
	KeyAccepted bool
	Err         error
}

func (e *PromptError) Error() string {
	what := "a password"
	if e.Method != "password" {
		what = fmt.Sprintf("%s (%q)", e.Method, strings.TrimSpace(e.Question))
	}
	if e.KeyAccepted {
		return fmt.Sprintf("the server accepted a key, then asked for %s (sshd_config AuthenticationMethods asks for both), with no one to answer: %v", what, e.Err)
	}
	return fmt.Sprintf("no key was accepted, and the server asks for %s instead, with no one to answer: %v", what, e.Err)
}

func (e *PromptError) Unwrap() error { return e.Err }

// loginMethods are the login methods for e, in e.AuthMethods' order
// (OpenSSH's default: publickey, keyboard-interactive, password). The
// questions of keyboard-interactive (PAM: a password, a one-time code)
// and password go to Options.Prompt, up to NumberOfPasswordPrompts
// times each, with OpenSSH's own prompts: "(user@host) <question>" and
// "user@host's password: ". Asking lifts the connect timeout (disarm), as
// a passphrase prompt does. x/crypto tries a method only when the server
// lists it.
func (a *auth) loginMethods(e Endpoint, signers []ssh.Signer, st *loginState, disarm func()) ([]ssh.AuthMethod, error) {
	kbd := func(name, instruction string, questions []string, _ []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i, q := range questions {
			p := fmt.Sprintf("(%s@%s) %s", e.User, e.HostName, q)
			if head := strings.TrimSpace(strings.Join(nonEmpty(name, instruction), "\n")); i == 0 && head != "" {
				p = head + "\n" + p
			}
			ans, err := a.ask(e, st, "keyboard-interactive", q, p, disarm)
			if err != nil {
				return nil, err
			}
			answers[i] = ans
		}
		return answers, nil
	}
	pw := func() (string, error) {
		return a.ask(e, st, "password", "password", fmt.Sprintf("%s@%s's password: ", e.User, e.HostName), disarm)
	}
	var methods []ssh.AuthMethod
	for _, m := range e.AuthMethods {
		switch m {
		case "publickey":
			keys := promptSafe(signers, disarm, e.BatchMode)
			st.offered, st.left = len(keys), len(signers)-len(keys)
			methods = append(methods, ssh.PublicKeys(keys...))
		case "keyboard-interactive":
			methods = append(methods, ssh.RetryableAuthMethod(ssh.KeyboardInteractive(kbd), max(e.PasswordPrompts, 1)))
		case "password":
			methods = append(methods, ssh.RetryableAuthMethod(ssh.PasswordCallback(pw), max(e.PasswordPrompts, 1)))
		}
	}
	if len(methods) == 0 {
		return nil, &Error{Op: "log in to", Host: e.String(),
			Err:  errors.New("ssh_config turns off every login method deploy does (publickey, keyboard-interactive, password)"),
			hint: "check PreferredAuthentications, PubkeyAuthentication, KbdInteractiveAuthentication and PasswordAuthentication for " + e.Alias}
	}
	return methods, nil
}

// ask puts one question to the person, or fails with a *PromptError:
// with BatchMode, no Options.Prompt or NumberOfPasswordPrompts 0 no one
// is asked, as with ssh.
func (a *auth) ask(e Endpoint, st *loginState, method, question, prompt string, disarm func()) (string, error) {
	pe := &PromptError{Method: method, Question: question, KeyAccepted: st.keyAccepted()}
	switch {
	case e.BatchMode:
		pe.Err = errors.New("ssh_config sets BatchMode yes, which asks nothing")
		return "", pe
	case e.PasswordPrompts == 0:
		pe.Err = errors.New("ssh_config sets NumberOfPasswordPrompts 0")
		return "", pe
	case a.prompt == nil:
		pe.Err = errors.New("no terminal to ask on")
		return "", pe
	}
	disarm()
	ans, err := a.prompt(prompt)
	if err != nil {
		pe.Err = err
		return "", pe
	}
	st.mu.Lock()
	st.asked = true
	st.mu.Unlock()
	return ans, nil
}

func nonEmpty(s ...string) []string {
	return slices.DeleteFunc(s, func(v string) bool { return strings.TrimSpace(v) == "" })
}

// loginError explains a login that failed after the server was reached,
// from what it said (st): a question no one could answer, a key accepted
// but a second factor deploy cannot give, answers refused, or no key
// accepted (nil: none of those).
func loginError(e Endpoint, err error, st *loginState) error {
	var pe *PromptError
	if errors.As(err, &pe) {
		h := fmt.Sprintf("run deploy from a terminal to answer it, or let %s log in with its key alone: on the server, a `Match User %s` block with `AuthenticationMethods publickey` in sshd_config", e.User, e.User)
		if !pe.KeyAccepted {
			h = fmt.Sprintf("authorize your public key for %s on the server (~%s/.ssh/authorized_keys) so no password is asked, or run deploy from a terminal to type it", e.User, e.User)
		}
		return &Error{Op: "log in to", Host: e.String(), Err: pe, hint: h}
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		return nil
	}
	st.mu.Lock()
	allowed, partial, asked, keys, left := st.allowed, st.partial, st.asked, st.offered, st.left
	st.mu.Unlock()
	switch {
	case asked:
		return &Error{Op: "log in to", Host: e.String(),
			Err:  fmt.Errorf("the server refused what was typed at its prompts (%d tries each, as ssh's NumberOfPasswordPrompts)", max(e.PasswordPrompts, 1)),
			hint: "check the password or code and try again; a key in ssh-agent or in ~" + e.User + "/.ssh/authorized_keys avoids the prompt"}
	case slices.Contains(partial, "publickey"):
		why := "which deploy does not do"
		if slices.ContainsFunc(allowed, func(m string) bool { return m == "password" || m == "keyboard-interactive" }) {
			why = "which ssh_config turns off for " + e.Alias + " (PreferredAuthentications, KbdInteractiveAuthentication, PasswordAuthentication), as it would for ssh"
		}
		return &Error{Op: "log in to", Host: e.String(),
			Err:  fmt.Errorf("the server accepted a key but also requires %s (sshd_config AuthenticationMethods), %s", strings.Join(allowed, " or "), why),
			hint: fmt.Sprintf("let %s log in with its key alone: on the server, a `Match User %s` block with `AuthenticationMethods publickey` in sshd_config", e.User, e.User)}
	}
	kept := ""
	if left > 0 {
		kept = fmt.Sprintf("; %d encrypted key(s) not offered: ssh_config sets BatchMode yes, so nothing asks for a passphrase (load them into ssh-agent with 'ssh-add')", left)
	}
	return &Error{Op: "log in to", Host: e.String(),
		Err: fmt.Errorf("no key was accepted (offered %d: ssh-agent, `key`, IdentityFile, ~/.ssh/id_*%s)", keys, kept),
		hint: fmt.Sprintf("check `user` (%s) and `key` in deploy.conf; the server must list your public key in ~%s/.ssh/authorized_keys, "+
			"or load the key into ssh-agent with 'ssh-add'", e.User, e.User)}
}
