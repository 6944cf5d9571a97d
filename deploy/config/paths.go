package config

import (
	"fmt"
	"os"
	"os/user"
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

// setLocalFile resolves a file on this machine: `~/` is the login user's
// home from the passwd entry (as OpenSSH expands it, whatever $HOME says),
// a relative path is relative to the config file's directory (classic
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

// LocalHome is the home directory of the user running deploy from the
// passwd entry, as OpenSSH uses it for ~ (falling back to $HOME only when
// there is no entry).
func LocalHome() (string, error) {
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir, nil
	}
	return os.UserHomeDir()
}
