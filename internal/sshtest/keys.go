package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Key is a generated ed25519 key pair written to disk in OpenSSH format.
type Key struct {
	// File is the private key file (mode 0600); File+".pub" holds the
	// public key in authorized_keys form.
	File string
	// Signer signs with the private key.
	Signer ssh.Signer
	// Private is the raw private key (for agent keyrings).
	Private ed25519.PrivateKey
}

// Public returns the key's public half.
func (k *Key) Public() ssh.PublicKey { return k.Signer.PublicKey() }

// NewKey generates an ed25519 key and writes it to file (and file.pub). A
// non-empty passphrase encrypts the private key file, as `ssh-keygen -N`
// would.
func NewKey(t testing.TB, file, passphrase string) *Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshtest: generate ed25519 key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("sshtest: signer: %v", err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "sshtest")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "sshtest", []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("sshtest: marshal private key: %v", err)
	}
	k := &Key{File: file, Signer: signer, Private: priv}
	writeFile(t, file, pem.EncodeToMemory(block), 0o600)
	k.write(t, file)
	return k
}

// newRSAKey writes a 2048-bit RSA private key to file and returns its
// public half.
func newRSAKey(t testing.TB, file string) ssh.PublicKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("sshtest: generate rsa key: %v", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshtest")
	if err != nil {
		t.Fatalf("sshtest: marshal rsa key: %v", err)
	}
	writeFile(t, file, pem.EncodeToMemory(block), 0o600)
	pub, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatalf("sshtest: rsa public key: %v", err)
	}
	return pub
}

// write writes the public half next to file.
func (k *Key) write(t testing.TB, file string) {
	t.Helper()
	writeFile(t, file+".pub", ssh.MarshalAuthorizedKey(k.Public()), 0o644)
}

// CopyTo writes the key's private and public files to file, keeping the
// original's bytes (an encrypted key stays encrypted).
func (k *Key) CopyTo(t testing.TB, file string) {
	t.Helper()
	b, err := os.ReadFile(k.File)
	if err != nil {
		t.Fatalf("sshtest: read key: %v", err)
	}
	writeFile(t, file, b, 0o600)
	k.write(t, file)
}

func writeFile(t testing.TB, name string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, mode); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}
