package remote

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// agentAdding is a key file's signer for a host whose ssh_config sets
// AddKeysToAgent: the first time the server accepts the key and it signs
// (where ssh's load_identity_file adds it), the key is given to the agent,
// so later commands, and ssh, use it without its passphrase. Once per key
// file per KeyCache; with ask, the person confirms first; with confirm,
// the agent asks before each use; a lifetime bounds its stay.
type agentAdding struct {
	inner ssh.Signer // an ssh.AlgorithmSigner: a key file's, or a lazySigner's wrapper
	path  string
	a     *auth
	e     Endpoint
}

func (s *agentAdding) PublicKey() ssh.PublicKey { return s.inner.PublicKey() }

func (s *agentAdding) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	sig, err := s.inner.Sign(rand, data)
	if err == nil {
		s.add()
	}
	return sig, err
}

func (s *agentAdding) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	as, ok := s.inner.(ssh.AlgorithmSigner)
	if !ok {
		return nil, fmt.Errorf("key %s cannot sign with %s", s.path, algorithm)
	}
	sig, err := as.SignWithAlgorithm(rand, data, algorithm)
	if err == nil {
		s.add()
	}
	return sig, err
}

// add gives the key to the agent, once; a failure is logged, as ssh
// only warns.
func (s *agentAdding) add() {
	if !s.a.keys.firstAdd(s.path) {
		return
	}
	raw, err := s.rawKey()
	if err != nil {
		s.a.log("AddKeysToAgent: read key %s: %v", s.path, err)
		return
	}
	if s.e.AddKeysToAgent == "ask" {
		if s.e.BatchMode || s.a.prompt == nil {
			return
		}
		ans, err := s.a.prompt(fmt.Sprintf("Add key %s (%s) to agent? (yes/no) ", s.path, ssh.FingerprintSHA256(s.PublicKey())))
		if err != nil || (strings.TrimSpace(ans) != "" && !strings.EqualFold(strings.TrimSpace(ans), "yes")) {
			return
		}
	}
	k := agent.AddedKey{PrivateKey: raw, Comment: s.path, ConfirmBeforeUse: s.e.AddKeysToAgent == "confirm",
		LifetimeSecs: uint32(s.e.AddKeysLifetime / time.Second)}
	if err := s.a.agent.Add(k); err != nil {
		s.a.log("AddKeysToAgent: add key %s to ssh-agent: %v", s.path, err)
	}
}

// rawKey is the private key itself: an encrypted one as it was unlocked,
// a plain one read again from its file.
func (s *agentAdding) rawKey() (any, error) {
	var l *lazySigner
	switch in := s.inner.(type) {
	case *lazySigner:
		l = in
	case *disarmingSigner:
		l = in.lazySigner
	}
	if l != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.raw == nil {
			return nil, fmt.Errorf("not unlocked")
		}
		return l.raw, nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, err
	}
	return ssh.ParseRawPrivateKey(b)
}
