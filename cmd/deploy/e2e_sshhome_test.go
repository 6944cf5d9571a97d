package main

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/config"
)

// ~ in ssh_config (and %d, ~/.ssh/config, known_hosts, the default
// identity files) is the login user's home from the passwd entry, as
// OpenSSH takes it, not $HOME. The built binary, run with HOME set to
// another directory and no DEPLOY_SSH_HOME, prints in 'config --ssh' the
// identity files and known_hosts files ssh itself uses in that same
// environment: ssh -G's userknownhostsfile (which ssh expands), and the
// identity files ssh -v loads (ssh -G prints them unexpanded). That HOME
// holds a .ssh/config that ssh does not read, and is where -F's relative
// Include is found, as OpenSSH globs it with $HOME.
func TestSSHHomeIsPasswdHome(t *testing.T) {
	requireTool(t, "ssh")
	u, err := user.Current()
	if err != nil || u.HomeDir == "" || u.HomeDir == "/" {
		t.Skipf("no passwd home to compare with (%v)", err)
	}
	home := t.TempDir() // $HOME, not the passwd home
	if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, ".ssh", "config"), "Host *\n  IdentityFile ~/.ssh/id_from_home\n  UserKnownHostsFile ~/.ssh/kh_from_home\n")
	writeFile(t, filepath.Join(home, ".ssh", "inc.conf"), "Host sshhome-web.invalid\n  IdentityFile ~/.ssh/id_inc\n")
	sshCfg := filepath.Join(t.TempDir(), "ssh_config")
	writeFile(t, sshCfg, "Include inc.conf\nHost sshhome-web.invalid\n  HostName 127.0.0.1\n  IdentityFile %d/.ssh/id_pct\n"+
		"  UserKnownHostsFile ~/.ssh/kh_tilde %d/.ssh/kh_pct\n")
	conf := filepath.Join(t.TempDir(), "deploy.conf")
	writeFile(t, conf, "[production]\nhost sshhome-web.invalid\nrepo r\npath /srv/app\n")
	env := []string{"HOME=" + home, "SSH_AUTH_SOCK="} // no agent: keys in ssh_config order
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "HOME" && k != "SSH_AUTH_SOCK" && k != config.SSHHomeEnv {
			env = append(env, kv)
		}
	}
	bin := buildDeploy(t)

	for _, tt := range []struct {
		name  string
		sshF  []string // ssh's -F, and deploy's
		hasID string   // an identity file ssh must name, under the passwd home
	}{
		{"ssh's own files", nil, filepath.Join(u.HomeDir, ".ssh", "id_ed25519")},
		{"-F with Include", []string{"-F", sshCfg}, filepath.Join(u.HomeDir, ".ssh", "id_inc")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			run := func(name string, args ...string) string {
				cmd := exec.CommandContext(ctx, name, args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil && name != "ssh" { // ssh -v fails: its ProxyCommand is `true`
					t.Fatalf("%s %q: %v\n%s", name, args, err, out)
				}
				return string(out)
			}
			deploy := field(run(bin, append(append([]string{"-c", conf}, tt.sshF...), "production", "config", "--ssh")...))

			sshG := field(run("ssh", append(append([]string{"-G"}, tt.sshF...), "sshhome-web.invalid")...))
			var ids []string
			for _, m := range regexp.MustCompile(`(?m)^debug1: identity file (.*) type -?\d+\r?$`).FindAllStringSubmatch(
				run("ssh", append(append([]string{"-v", "-o", "BatchMode=yes", "-o", "ControlPath=none", "-o", "ProxyCommand=true"}, tt.sshF...), "sshhome-web.invalid", "true")...), -1) {
				if n := len(ids); n > 0 && m[1] == ids[n-1]+"-cert" {
					continue // ssh also looks for each key's certificate
				}
				ids = append(ids, m[1])
			}

			if !slices.Contains(ids, tt.hasID) {
				t.Fatalf("ssh -v names no %s among its identity files %q: the test does not see what ssh does", tt.hasID, ids)
			}
			if !slices.Equal(deploy["identityfile"], ids) {
				t.Errorf("identityfile:\ndeploy: %q\nssh:    %q", deploy["identityfile"], ids)
			}
			if !slices.Equal(deploy["userknownhostsfile"], sshG["userknownhostsfile"]) || len(sshG["userknownhostsfile"]) != 1 {
				t.Errorf("userknownhostsfile:\ndeploy:  %q\nssh -G:  %q", deploy["userknownhostsfile"], sshG["userknownhostsfile"])
			}
			for _, p := range append(slices.Clone(ids), strings.Fields(strings.Join(sshG["userknownhostsfile"], " "))...) {
				if !strings.HasPrefix(p, u.HomeDir+"/") {
					t.Errorf("ssh uses %s, not under the passwd home %s", p, u.HomeDir)
				}
			}
		})
	}
}

// field maps ssh -G style output to each keyword's values, in order.
func field(out string) map[string][]string {
	m := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			m[k] = append(m[k], v)
		}
	}
	return m
}

// DEPLOY_SSH_HOME, not HOME, stands in for the login user's home: its
// .ssh holds the key the connection uses and the known_hosts file that
// trust writes, whatever HOME says. A relative one is refused, saying
// what to set.
func TestSSHHomeOverride(t *testing.T) {
	f := newFixture(t)
	f.writeINI()
	t.Setenv("HOME", t.TempDir())
	kh := filepath.Join(f.home, ".ssh", "known_hosts")
	if err := os.Remove(kh); err != nil {
		t.Fatal(err)
	}
	if r := f.mustRun("production", "trust"); !strings.Contains(r.stdout, "new: recorded in "+kh) {
		t.Errorf("trust did not record the key in DEPLOY_SSH_HOME's known_hosts %s:\n%s", kh, r.stdout)
	}
	if b, _ := os.ReadFile(kh); !strings.Contains(string(b), f.sshd.KnownHostsLine()) {
		t.Errorf("known_hosts = %q, want the server's key", b)
	}
	f.mustRun("production", "setup") // logs in with DEPLOY_SSH_HOME/.ssh/id_ed25519
	r := f.mustRun("production", "config", "--ssh")
	for _, want := range []string{"identityfile " + filepath.Join(f.home, ".ssh", "id_ed25519") + "\n", "userknownhostsfile " + kh + " "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config --ssh lacks %q:\n%s", want, r.stdout)
		}
	}

	t.Setenv(config.SSHHomeEnv, "rel/home")
	r = f.run(ctxT(t), "production", "config", "--ssh")
	if want := `DEPLOY_SSH_HOME="rel/home" is not an absolute path; set it to the full path`; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("relative DEPLOY_SSH_HOME: exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, want)
	}
}
