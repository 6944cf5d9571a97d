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

// setLocalFile resolves a file on this machine: `~/` is LocalHome, a
// relative path is relative to the config file's directory (classic
// `key keys/cactus`).
func (b *envBuilder) setLocalFile(dst *string, v string) error {
	switch {
	case v == "~" || strings.HasPrefix(v, "~/"):
		home, err := LocalHome()
		if err != nil {
			return fmt.Errorf("cannot expand ~: %v (or give the full path here)", err)
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

// SSHHomeEnv names the environment variable for tests and sandboxes: a
// directory standing in for the login user's home, as
// `ssh -F DIR/.ssh/config` would. When it is set, ~ and %d in ssh_config,
// ~/.ssh/config, ~/.ssh/known_hosts (where trust and --accept-new record
// keys), the default identity files and deploy.conf's `key ~/…` and
// `ssh-config ~/…` are under it, and /etc/ssh/ssh_config is not read.
// Unset (or empty), they are under the login user's home from the passwd
// entry, as OpenSSH takes it: not $HOME.
const SSHHomeEnv = "DEPLOY_SSH_HOME"

// SSHHomeOverride is $DEPLOY_SSH_HOME, cleaned ("" = unset: the passwd
// entry's home). A relative path is an error.
func SSHHomeOverride() (string, error) {
	h := os.Getenv(SSHHomeEnv)
	if h == "" {
		return "", nil
	}
	if !filepath.IsAbs(h) {
		return "", fmt.Errorf("%s=%q is not an absolute path; set it to the full path of the directory standing in for your home (or unset it to use your own)", SSHHomeEnv, h)
	}
	return filepath.Clean(h), nil
}

// LocalHome is the home directory ~ stands for in deploy.conf's local
// paths (`key`, `ssh-config`): the home whose ~/.ssh the CLI reads, so
// that `key ~/.ssh/id_x` and ssh_config's IdentityFile ~/.ssh/id_x name
// one file. That is $DEPLOY_SSH_HOME when set, else the login user's home
// from the passwd entry, as `ssh -i ~/.ssh/id_x` expands it (classic
// deploy passed `key` to ssh -i unexpanded), else $HOME.
func LocalHome() (string, error) {
	if h, err := SSHHomeOverride(); h != "" || err != nil {
		return h, err
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir, nil
	}
	return os.UserHomeDir()
}
