package config

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// setServerPath stores the app's directory on the server: absolute and
// clean, or, as the classic deploy.conf allowed, `~` or `~/dir`: the login
// user's home on the server, which the remote script expands from its
// $HOME (never by eval). Not the root.
func setServerPath(dst *string, v string) error {
	if err := setArg(dst, v); err != nil {
		return err
	}
	*dst = ""
	if v == "~" || strings.HasPrefix(v, "~/") {
		rest := strings.TrimSuffix(v[1:], "/")
		if rest != "" && path.Clean(rest) != rest {
			return fmt.Errorf("%q is not clean; write it as %q", v, "~"+path.Clean(rest))
		}
		*dst = "~" + rest
		return nil
	}
	if strings.HasPrefix(v, "~") {
		return fmt.Errorf("%q: ~user is not supported; give the full path on the server, or ~/dir for the login user's home", v)
	}
	if !strings.HasPrefix(v, "/") {
		return fmt.Errorf("%q is not absolute; give the full path on the server, like /var/www/app (or ~/app)", v)
	}
	p := path.Clean(v)
	if p == "/" {
		return fmt.Errorf("%q is the root directory; give the app's own directory, like /var/www/app", v)
	}
	*dst = p
	return nil
}

// IsHomePath reports whether p, a path key's value, is `~` or `~/…`: the
// login user's home on the server, expanded there.
func IsHomePath(p string) bool { return p == "~" || strings.HasPrefix(p, "~/") }

// setKey resolves the identity file (`key`); see setLocalFile.
func (b *envBuilder) setKey(v string) error { return b.setLocalFile(&b.env.Key, v) }

// setSSHConfig resolves the ssh_config file (`ssh-config`, as `ssh -F`).
func (b *envBuilder) setSSHConfig(v string) error { return b.setLocalFile(&b.env.SSHConfig, v) }

// setLocalFile resolves a file on this machine: `~/` is LocalHome, a
// relative path is relative to the config file's directory (classic
// `key keys/cactus`).
func (b *envBuilder) setLocalFile(dst *string, v string) error {
	switch {
	case v == "~" || strings.HasPrefix(v, "~/"):
		home, err := LocalHome()
		if err != nil {
			return fmt.Errorf("cannot expand ~: %v; give the full path", err)
		}
		*dst = filepath.Join(home, v[1:])
	case strings.HasPrefix(v, "~"):
		return fmt.Errorf("%q: ~user is not supported; give the full path", v)
	case filepath.IsAbs(v):
		*dst = filepath.Clean(v)
	default:
		*dst = filepath.Join(b.dir, v)
	}
	return nil
}

// LocalHome is the home directory ~ stands for on this machine: $HOME,
// the same home whose ~/.ssh the CLI reads (cmd/deploy gives it to
// remote.Options.HomeDir), so that `key ~/.ssh/id_x` and ssh_config's
// IdentityFile ~/.ssh/id_x name one file. (OpenSSH takes the passwd
// entry's home; the two differ only under sudo -E and in tests.)
func LocalHome() (string, error) { return os.UserHomeDir() }
