package remote

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// passphraseTries is how many times a wrong passphrase may be entered.
const passphraseTries = 3

// auth gathers the keys offered to servers: the agent's, then key files.
// Each key file is read and decrypted at most once per KeyCache.
type auth struct {
	home   string
	prompt func(string) (string, error)
	logf   func(string, ...any)
	agent  agent.ExtendedAgent // nil without an agent
	conn   net.Conn            // the agent socket, closed with the client
	keys   *KeyCache
}

// newAuth connects to the agent at sock, if any; an unreachable agent is
// skipped (and logged), as OpenSSH does.
func newAuth(o Options, sock string) *auth {
	a := &auth{home: o.HomeDir, prompt: o.Prompt, logf: o.Logf, keys: o.Keys}
	if a.keys == nil {
		a.keys = &KeyCache{}
	}
	if sock == "" {
		return a
	}
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		a.log("ssh-agent at %s: %v; continuing without it", sock, err)
		return a
	}
	a.conn, a.agent = conn, agent.NewClient(conn)
	return a
}

func (a *auth) log(format string, args ...any) {
	if a.logf != nil {
		a.logf(format, args...)
	}
}

// close closes the agent connection.
func (a *auth) close() {
	if a.conn != nil {
		_ = a.conn.Close()
	}
}

// signers lists the keys to offer to e in OpenSSH's order, without
// duplicates: CertificateFile certificates (their key from a file or the
// agent), the agent's keys that match a key file, the agent's other keys
// (not with IdentitiesOnly), then the key files (Target.KeyFile, then
// IdentityFile), each followed by its "<file>-cert.pub" when no
// CertificateFile is set. Encrypted keys ask for their passphrase only
// when the server accepts their public key.
func (a *auth) signers(e Endpoint) ([]ssh.Signer, error) {
	files, err := a.fileSigners(e)
	if err != nil {
		return nil, err
	}
	var agentKeys []ssh.Signer
	if a.agent != nil {
		if agentKeys, err = a.agent.Signers(); err != nil {
			a.log("list ssh-agent keys: %v", err)
		}
	}
	fromFile := map[string]bool{}
	for _, f := range files {
		if f.signer != nil {
			fromFile[keyID(f.signer.PublicKey())] = true
		}
	}
	for _, f := range files {
		if f.signer == nil {
			fromFile[keyID(f.pub)] = true
		}
	}
	var out []ssh.Signer
	seen := map[string]bool{}
	add := func(s ssh.Signer) {
		if k := keyID(s.PublicKey()); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	for _, c := range a.certificates(e.CertificateFiles, files, agentKeys) {
		add(c)
	}
	for _, s := range agentKeys {
		if fromFile[keyID(s.PublicKey())] {
			add(s)
		}
	}
	for _, s := range agentKeys {
		if !e.IdentitiesOnly {
			add(s)
		}
	}
	for _, f := range files {
		if f.signer == nil {
			continue // a public key: offered above when the agent holds it
		}
		if e.AddKeysToAgent != "" && a.agent != nil {
			add(&agentAdding{inner: f.signer, path: f.path, a: a, e: e})
			continue
		}
		add(f.signer)
		if f.cert != nil {
			add(f.cert)
		}
	}
	return out, nil
}

func keyID(k ssh.PublicKey) string { return string(k.Marshal()) }

// fileKey is a key file loaded for a host, and its automatic certificate.
type fileKey struct {
	path   string
	signer ssh.Signer    // nil when the file holds only a public key
	pub    ssh.PublicKey // the public key of a file without signer
	cert   ssh.Signer    // "<path>-cert.pub" with signer, nil if none
}

// fileSigners loads Target.KeyFile (which must exist), then the
// IdentityFiles that exist, with their "-cert.pub" unless CertificateFiles
// are given (as OpenSSH does).
func (a *auth) fileSigners(e Endpoint) ([]fileKey, error) {
	var out []fileKey
	if e.KeyFile != "" {
		k, err := a.keyFile(e)
		if err != nil {
			return nil, err
		}
		if k != nil {
			out = append(out, *k)
		}
	}
	for _, f := range e.IdentityFiles {
		if f == e.KeyFile {
			continue
		}
		s, err := a.file(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			a.log("skip key %s: %v", f, err)
			continue
		}
		out = append(out, fileKey{path: f, signer: s})
	}
	if len(e.CertificateFiles) == 0 {
		for i := range out {
			out[i].cert = a.autoCert(out[i])
		}
	}
	return out, nil
}

// keyFile loads Target.KeyFile. A file that is missing or unreadable is
// an error (a typo in `key`); one that is not a private key is what
// `ssh -i` warns about and goes on without: a public key (key.pub) is
// still offered through the agent when the agent holds it, as
// IdentityFile may name a public key; anything else is skipped (nil).
func (a *auth) keyFile(e Endpoint) (*fileKey, error) {
	s, err := a.file(e.KeyFile)
	if err == nil {
		return &fileKey{path: e.KeyFile, signer: s}, nil
	}
	b, rerr := os.ReadFile(e.KeyFile)
	if rerr != nil {
		return nil, &Error{Op: "load key", Host: e.String(), Err: err,
			hint: "check `key` in deploy.conf: it is relative to the config file's directory"}
	}
	if pub, _, _, _, perr := ssh.ParseAuthorizedKey(b); perr == nil {
		a.log("key %s is a public key: offering its private half only if ssh-agent holds it, then the other keys; point key at the private key file (%s)",
			e.KeyFile, strings.TrimSuffix(e.KeyFile, ".pub"))
		return &fileKey{path: e.KeyFile, pub: pub}, nil
	}
	a.log("key %s is not a private key (%v): skipping it, using ssh-agent and the other keys; point key at a private key file", e.KeyFile, err)
	return nil, nil
}

// file loads the key at path once; an encrypted key becomes a lazySigner.
func (a *auth) file(path string) (ssh.Signer, error) {
	return a.keys.load(path, func() (ssh.Signer, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		s, err := ssh.ParsePrivateKey(b)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return a.encrypted(path, b, missing.PublicKey)
		}
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		return s, nil
	})
}

// encrypted wraps an encrypted key. Its public key comes from the file
// itself (OpenSSH format) or path.pub; without either it is decrypted now.
func (a *auth) encrypted(path string, pemBytes []byte, pub ssh.PublicKey) (ssh.Signer, error) {
	l := &lazySigner{path: path, pem: pemBytes, prompt: a.prompt, pub: pub}
	if l.pub == nil {
		if b, err := os.ReadFile(path + ".pub"); err == nil {
			l.pub, _, _, _, _ = ssh.ParseAuthorizedKey(b)
		}
	}
	if l.pub == nil {
		s, err := l.unlock()
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return l, nil
}

// promptSafe wraps the encrypted keys among signers so that signing with
// one (which may ask a person for its passphrase) first calls disarm, which
// lifts the connect timeout: ConnectTimeout bounds reaching the server,
// as OpenSSH's does, not someone typing; sshd's LoginGraceTime bounds that.
// With batch (ssh_config BatchMode yes) an encrypted key not unlocked yet
// is left out, as ssh, which asks no passphrase then, cannot use it.
func promptSafe(signers []ssh.Signer, disarm func(), batch bool) []ssh.Signer {
	out := make([]ssh.Signer, 0, len(signers))
	for _, s := range signers {
		ad, _ := s.(*agentAdding)
		if ad != nil {
			s = ad.inner
		}
		if l, ok := s.(*lazySigner); ok {
			if batch && !l.unlocked() {
				continue
			}
			s = &disarmingSigner{lazySigner: l, disarm: disarm}
		}
		if ad != nil {
			c := *ad
			c.inner, s = s, &c
		}
		out = append(out, s)
	}
	return out
}

// disarmingSigner is a lazySigner that calls disarm before it signs.
type disarmingSigner struct {
	*lazySigner
	disarm func()
}

// Sign lifts the connect timeout, then signs (asking for the passphrase).
func (d *disarmingSigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	d.disarm()
	return d.lazySigner.Sign(rand, data)
}

// SignWithAlgorithm lifts the connect timeout, then signs.
func (d *disarmingSigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	d.disarm()
	return d.lazySigner.SignWithAlgorithm(rand, data, algorithm)
}

// lazySigner is an encrypted key file that asks for its passphrase the
// first time it must sign, and remembers the outcome.
type lazySigner struct {
	path   string
	pem    []byte
	pub    ssh.PublicKey
	prompt func(string) (string, error)

	mu     sync.Mutex
	signer ssh.AlgorithmSigner
	raw    any // the decrypted private key, for AddKeysToAgent
	err    error
}

// PublicKey returns the key's public half, known without decrypting.
func (l *lazySigner) PublicKey() ssh.PublicKey { return l.pub }

// Sign decrypts the key if needed and signs data.
func (l *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	s, err := l.unlock()
	if err != nil {
		return nil, err
	}
	return s.Sign(rand, data)
}

// SignWithAlgorithm decrypts the key if needed and signs data with algorithm
// (so RSA keys can use rsa-sha2-*).
func (l *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s, err := l.unlock()
	if err != nil {
		return nil, err
	}
	return s.SignWithAlgorithm(rand, data, algorithm)
}

// unlocked says whether the key is decrypted already.
func (l *lazySigner) unlocked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.signer != nil
}

// unlock asks for the passphrase (up to passphraseTries times) once.
func (l *lazySigner) unlock() (ssh.AlgorithmSigner, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.signer != nil || l.err != nil {
		return l.signer, l.err
	}
	if l.prompt == nil {
		l.err = &Error{Op: "unlock key", Host: l.path,
			Err:  errors.New("the key is encrypted and there is no terminal to ask for its passphrase"),
			hint: fmt.Sprintf("load it into your ssh-agent with 'ssh-add %s' and try again", l.path)}
		return nil, l.err
	}
	var err error
	for try := 0; try < passphraseTries; try++ {
		var pass string
		pass, err = l.prompt(fmt.Sprintf("Enter passphrase for key '%s': ", l.path))
		if err != nil {
			l.err = &Error{Op: "unlock key", Host: l.path, Err: err,
				hint: fmt.Sprintf("load it into your ssh-agent with 'ssh-add %s' and try again", l.path)}
			return nil, l.err
		}
		var raw any
		if raw, err = ssh.ParseRawPrivateKeyWithPassphrase(l.pem, []byte(pass)); err == nil {
			var s ssh.Signer
			if s, err = ssh.NewSignerFromKey(raw); err != nil {
				break
			}
			as, ok := s.(ssh.AlgorithmSigner)
			if !ok {
				err = fmt.Errorf("key type %s cannot sign", s.PublicKey().Type())
				break
			}
			l.signer, l.raw = as, raw
			return as, nil
		}
	}
	l.err = fmt.Errorf("decrypt key %s: %w", l.path, err)
	return nil, l.err
}
