package remote

import (
	"sync"

	"golang.org/x/crypto/ssh"
)

// KeyCache remembers the key files loaded, and encrypted keys once
// unlocked, so the Dials of one deploy (several hosts, jump hosts) ask for
// each passphrase once. Share one through Options.Keys. The zero value is
// ready to use; it is safe for concurrent use.
type KeyCache struct {
	mu      sync.Mutex
	signers map[string]ssh.Signer
	added   map[string]bool // key files given to the agent (AddKeysToAgent)
}

// firstAdd says whether the key file at path is not yet given to the
// agent, and records that it now is.
func (k *KeyCache) firstAdd(path string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.added[path] {
		return false
	}
	if k.added == nil {
		k.added = map[string]bool{}
	}
	k.added[path] = true
	return true
}

// load returns the signer cached for path, or caches what load returns.
// Failures are not cached: a key file fixed meanwhile is read again.
func (k *KeyCache) load(path string, load func() (ssh.Signer, error)) (ssh.Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.signers[path]; ok {
		return s, nil
	}
	s, err := load()
	if err != nil {
		return nil, err
	}
	if k.signers == nil {
		k.signers = map[string]ssh.Signer{}
	}
	k.signers[path] = s
	return s, nil
}
