package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/ssh"
)

// readCert reads an OpenSSH certificate file (ssh-keygen -s output).
func readCert(path string) (*ssh.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	c, ok := pub.(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("certificate %s: a %s key, not a certificate", path, pub.Type())
	}
	return c, nil
}

// autoCert is k's "<file>-cert.pub" signing with k, or nil when there is
// none (or it certifies another key: then a notice).
func (a *auth) autoCert(k fileKey) ssh.Signer {
	if k.signer == nil {
		return nil // a public key file: its agent key is offered as is
	}
	path := k.path + "-cert.pub"
	c, err := readCert(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		a.log("skip %v", err)
		return nil
	}
	s, err := ssh.NewCertSigner(c, k.signer)
	if err != nil {
		a.log("skip certificate %s: %v", path, err)
		return nil
	}
	return s
}

// certificates are the CertificateFile certificates that exist, each
// signing with the key file or agent key it certifies; one whose key is
// nowhere is skipped with a notice, as OpenSSH does.
func (a *auth) certificates(paths []string, files []fileKey, agentKeys []ssh.Signer) []ssh.Signer {
	var out []ssh.Signer
	for _, path := range paths {
		c, err := readCert(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			a.log("skip %v", err)
			continue
		}
		key := certKey(c, files, agentKeys)
		if key == nil {
			a.log("skip certificate %s: its key is in no IdentityFile and not in the ssh-agent", path)
			continue
		}
		s, err := ssh.NewCertSigner(c, key)
		if err != nil {
			a.log("skip certificate %s: %v", path, err)
			continue
		}
		out = append(out, s)
	}
	return out
}

// certKey finds the private key c certifies: a key file's, else the
// agent's.
func certKey(c *ssh.Certificate, files []fileKey, agentKeys []ssh.Signer) ssh.Signer {
	want := keyID(c.Key)
	for _, f := range files {
		if f.signer != nil && keyID(f.signer.PublicKey()) == want {
			return f.signer
		}
	}
	for _, s := range agentKeys {
		if keyID(s.PublicKey()) == want {
			return s
		}
	}
	return nil
}
