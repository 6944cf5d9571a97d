package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctxT is a context bounded for one command of a test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// writeSSHConfig writes an ssh_config naming the fixture's sshd "app-box"
// (an alias no other file knows), with its known_hosts and key, and
// returns its path: reached only through -F or the ssh-config key.
func (f *fixture) writeSSHConfig() string {
	f.t.Helper()
	file := filepath.Join(f.home, "ssh_config")
	writeFile(f.t, file, strings.Join([]string{
		"Host app-box",
		"  HostName " + f.sshd.Host(),
		fmt.Sprintf("  Port %d", f.sshd.Port()),
		"  User " + f.sshd.User(),
		"Host *",
		"  UserKnownHostsFile " + filepath.Join(f.home, ".ssh", "known_hosts"),
		"  IdentityFile " + filepath.Join(f.home, ".ssh", "id_ed25519"),
		"  IdentitiesOnly yes",
	}, "\n")+"\n")
	return file
}

// readTrim reads a file the test's hooks wrote.
func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return strings.TrimSpace(string(b))
}

// A deploy.conf as the classic bash deploy read it: `path ~/app` (the
// login user's home on the server), no ref, `key` naming a .pub file, a
// broken [staging] beside a good [production], and hooks that use git in
// the release and $SHARED. It deploys as the classic tool would have.
func TestClassicDeployConf(t *testing.T) {
	u := newUserHost(t, false, "unused")
	f := u.f
	sha := f.origin.commit()
	dir := t.TempDir()
	pub := filepath.Join(dir, "deploy_key.pub")
	writeFile(t, pub, readTrim(t, filepath.Join(f.home, ".ssh", "id_ed25519.pub"))+"\n")
	f.conf = filepath.Join(dir, "deploy.conf")
	writeFile(t, f.conf, strings.Join([]string{
		"[staging]",
		"host 127.0.0.1",
		"prot 22",
		"",
		"[production]",
		"host app-box",
		"key deploy_key.pub",
		"ssh-config " + f.writeSSHConfig(),
		"repo " + f.origin.dir,
		"path ~/app",
		// git in a hook sees the release's commit; a commit made there
		// must not reach the mirror
		`pre-deploy git rev-parse HEAD > "$SHARED/head" && git log -1 --format=%s > "$SHARED/subject" && git -c user.name=h -c user.email=h@x commit -q --allow-empty -m hook && git rev-parse HEAD > "$SHARED/hook-commit"`,
		`post-deploy echo "$SHARED" > "$SHARED/shared"`,
	}, "\n")+"\n")
	app := filepath.Join(u.deployer.Home, "app")

	f.mustRun("production", "setup")
	for _, d := range []string{"shared/logs", "shared/pids", "repo", "releases"} {
		if st, err := os.Stat(filepath.Join(app, d)); err != nil || !st.IsDir() {
			t.Errorf("setup did not create ~/app/%s: %v", d, err)
		}
	}

	r := f.mustRun("production")
	shared := filepath.Join(app, "shared")
	if !strings.Contains(r.stdout, "ref: main (the origin's default branch; set ref to pin one)") {
		t.Errorf("the deploy does not say which ref it chose:\n%s", r.stdout)
	}
	for _, want := range []string{"deploy_key.pub is a public key", "note: skipping an environment with an error: " + f.conf + ":3: prot: unknown key"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if got := readTrim(t, filepath.Join(app, "current", "REVISION")); got != sha {
		t.Errorf("~/app/current is %s, want %s", got, sha)
	}
	if got := readTrim(t, filepath.Join(shared, "head")); got != sha {
		t.Errorf("git rev-parse HEAD in the release: %q, want %s", got, sha)
	}
	if got := readTrim(t, filepath.Join(shared, "subject")); got != "version 1" {
		t.Errorf("git log -1 in the release: %q", got)
	}
	if got := readTrim(t, filepath.Join(shared, "shared")); got != shared {
		t.Errorf("$SHARED in a hook: %q, want %s", got, shared)
	}
	mirror := exec.Command("git", "--git-dir="+filepath.Join(app, "repo"), "cat-file", "-e", readTrim(t, filepath.Join(shared, "hook-commit")))
	if mirror.Run() == nil {
		t.Errorf("a commit made by a hook in the release reached the mirror")
	}
	// the release's .git is its own: the hook's commit is there, on top
	if out := f.mustRun("production", "exec", `echo "$SHARED"; git rev-parse HEAD~1`).stdout; out != shared+"\n"+sha+"\n" {
		t.Errorf("exec in current: %q", out)
	}
	// exec exits with the command's status, as ssh host cmd does
	if r := f.run(ctxT(t), "production", "exec", "test -f no-such-file || exit 7"); r.code != 7 {
		t.Errorf("exec of a command exiting 7: exit %d, stderr:\n%s", r.code, r.stderr)
	}

	r = f.run(ctxT(t), "staging")
	if r.code == 0 || !strings.Contains(r.stderr, f.conf+":3: prot: unknown key") {
		t.Errorf("deploy staging: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// -F FILE is `ssh -F`: the connection and 'config --ssh' use that file
// (its Host alias, port, user, key and known_hosts), and 'config --ssh'
// never connects (nothing listens on the second host's port 1).
func TestSSHConfigFlag(t *testing.T) {
	f := newFixture(t)
	f.origin.commit()
	sshCfg := f.writeSSHConfig()
	f.conf = filepath.Join(t.TempDir(), "deploy.conf")
	writeFile(t, f.conf, "[production]\nhost app-box\nrepo "+f.origin.dir+"\npath "+f.path+"\n")
	if r := f.run(ctxT(t), "production", "setup"); r.code == 0 {
		t.Fatalf("app-box was reached without -F:\n%s", r.stdout)
	}
	f.mustRun("-F", sshCfg, "production", "setup")
	f.mustRun("production", "--ssh-config", sshCfg)
	if f.current() == "" {
		t.Fatal("nothing deployed")
	}

	r := f.mustRun("-F", sshCfg, "production", "config", "--ssh")
	for _, want := range []string{
		"hostname " + f.sshd.Host() + "\n", fmt.Sprintf("port %d\n", f.sshd.Port()), "user " + f.sshd.User() + "\n",
		"identityfile " + filepath.Join(f.home, ".ssh", "id_ed25519") + "\n",
		"userknownhostsfile " + filepath.Join(f.home, ".ssh", "known_hosts") + "\n",
		"stricthostkeychecking ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config --ssh lacks %q:\n%s", want, r.stdout)
		}
	}

	// several hosts: each line starts with its host
	writeFile(t, f.conf, "[production]\nhosts app-box localhost:1\nrepo r\npath /srv/app\n")
	r = f.mustRun("-F", sshCfg, "production", "config", "--ssh")
	for _, want := range []string{"app-box     | hostname " + f.sshd.Host() + "\n", "localhost:1 | hostname localhost\n", "localhost:1 | port 1\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config --ssh for two hosts lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := f.run(ctxT(t), "production", "list", "--ssh"); r.code != 2 || !strings.Contains(r.stderr, "--ssh does not apply to list") {
		t.Errorf("--ssh with list: exit %d %s", r.code, r.stderr)
	}
}
