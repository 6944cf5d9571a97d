package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/freeport"
	"github.com/deploytool/deploy/internal/testusers"
)

// README's "Your first real deploy", followed as written: the server steps
// (a deploy user, an app user whose group the deploy user joins, the app's
// path owned by deploy, procmon started as root with the app's user), then
// the deploy.conf block as it stands in the README, with only what names
// this machine replaced (host, user, repo, path, procmon's config), and
// its commands run as printed. The app is examples/node-hello. Every
// deploy must be gated ("deployed", never UNCHECKED) and the app must
// answer the version each command left.
func TestReadmeFirstRealDeploy(t *testing.T) {
	testusers.RequireRoot(t, "create the deploy and app users and run procmon as root, as the README does")
	section := readmeSection(t, "## Your first real deploy")
	blocks := codeBlocks(section)
	if len(blocks["sh"]) < 2 || len(blocks["ini"]) != 1 {
		t.Fatalf("README's first-deploy section should have the server steps, the deploy.conf and the laptop commands; found %d sh and %d ini blocks", len(blocks["sh"]), len(blocks["ini"]))
	}
	server, laptop := blocks["sh"][0], blocks["sh"][1]
	// The steps this test stands in for must still be the README's.
	for _, step := range []string{"adduser --disabled-password deploy", "useradd --system --user-group", "usermod -aG myapp deploy",
		"install -d -o deploy /var/www/myapp", `set user = "myapp"`, "systemctl enable --now procmon@myapp"} {
		if !strings.Contains(server, step) {
			t.Fatalf("README's server steps no longer say %q: update this test with them:\n%s", step, server)
		}
	}

	w := newReadmeWorld(t)
	conf := w.deployConf(t, blocks["ini"][0])
	t.Logf("deploy.conf, as the README writes it for this machine:\n%s", conf)
	writeFile(t, w.f.conf, conf)
	w.startProcmon() // systemctl enable --now procmon@myapp

	cmds := deployCommands(laptop)
	if len(cmds) != 3 || cmds[0][1] != "setup" || len(cmds[1]) != 1 || cmds[2][1] != "revert" {
		t.Fatalf("README's laptop commands changed (%q): update this test", cmds)
	}
	w.f.mustRun(cmds[0]...)
	w.shareWithApp(t) // the README's chgrp/chmod of shared/ after setup
	for i, version := range []string{"v1", "v2"} {
		if i > 0 {
			w.f.origin.commit()
		}
		r := w.f.mustRun(cmds[1]...)
		if !strings.Contains(r.stdout, "deployed ") || strings.Contains(r.stdout, "UNCHECKED") {
			t.Fatalf("deploy %s was not gated:\n%s\n%s", version, r.stdout, r.stderr)
		}
		waitAnswer(t, w.listen, "hello from "+version)
	}
	w.f.mustRun(cmds[2]...)
	if got := answer(w.listen); got != "hello from v1" {
		t.Errorf("after revert the app answers %q, want v1", got)
	}
	if info, err := os.Stat(filepath.Join(w.f.path, "shared", ".env")); err != nil || !info.Mode().IsRegular() {
		t.Errorf("shared/.env should be a file: %v %v", info, err)
	}
}

// readmeWorld is the server of the README walkthrough, on this machine.
type readmeWorld struct {
	*usersServer
	f *fixture
}

func newReadmeWorld(t *testing.T) *readmeWorld {
	pm := buildProcmonShared(t)
	// usermod -aG myapp deploy; install -d -o deploy /var/www/myapp
	u := newUserHost(t, true, filepath.Join("var", "www", "myapp"))
	f, app, deployer, shared, origin := u.f, u.app, u.deployer, u.shared, u.f.origin
	f.conf = filepath.Join(t.TempDir(), "deploy.conf")
	for _, name := range []string{"server.js", "package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "node-hello", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(origin.dir, name), string(b))
	}
	origin.commit() // v1: the app answers with its VERSION file
	// SSH_AUTH_SOCK is empty: forward-agent yes warns and goes on.

	s := &usersServer{fixture: f, app: app, deployer: deployer, pm: pm, listen: freeport.Addr(t),
		pmConf: filepath.Join(shared, "myapp.toml"), sock: filepath.Join(shared, "run", "myapp.sock")}
	writeFile(t, s.pmConf, nodeHelloProcmon(t, f.path, s.listen, s.sock, app.Name, filepath.Join(shared, "log", "myapp.log")))
	return &readmeWorld{usersServer: s, f: f}
}

// nodeHelloProcmon is examples/node-hello/procmon.toml edited as the
// README says: dir, listen, user (group defaults to the user's), and the
// socket and log moved out of /run and /var/log for the test.
func nodeHelloProcmon(t *testing.T, path, listen, sock, user, log string) string {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "node-hello", "procmon.toml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for key, val := range map[string]string{"dir": filepath.Join(path, "current"), "listen": listen, "user": user, "group": user} {
		re := regexp.MustCompile(`(?m)^` + key + ` = ".*"$`)
		if !re.MatchString(text) {
			t.Fatalf("examples/node-hello/procmon.toml has no %s line", key)
		}
		text = re.ReplaceAllString(text, fmt.Sprintf("%s = %q", key, val))
	}
	text = regexp.MustCompile(`(?m)^file = ".*"$`).ReplaceAllString(text, fmt.Sprintf("file = %q", log))
	return strings.Replace(text, "\n[ready]", fmt.Sprintf("\nsocket = %q\n[ready]", sock), 1)
}

// deployConf is the README's deploy.conf with this machine's names.
func (w *readmeWorld) deployConf(t *testing.T, ini string) string {
	repl := map[string]string{
		"user deploy":                      "user " + w.deployer.Name,
		"host myapp.example.com":           fmt.Sprintf("host %s\nport %d", w.f.sshd.Host(), w.f.sshd.Port()),
		"repo git@github.com:me/myapp.git": "repo " + w.f.origin.dir,
		"path /var/www/myapp":              "path " + w.f.path,
		"procmon /etc/procmon/myapp.toml":  "procmon " + w.pmConf + "\nenv DEPLOY_PROCMON=" + w.pm,
	}
	for old, repl := range repl {
		if !strings.Contains(ini, old+"\n") {
			t.Fatalf("README's deploy.conf has no line %q: update this test:\n%s", old, ini)
		}
		ini = strings.Replace(ini, old+"\n", repl+"\n", 1)
	}
	return ini
}

// shareWithApp does what the README says after setup: the app's group may
// write shared/.
func (w *readmeWorld) shareWithApp(t *testing.T) {
	err := filepath.Walk(filepath.Join(w.f.path, "shared"), func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Chown(p, -1, w.app.GID); err != nil {
			return err
		}
		return os.Chmod(p, info.Mode().Perm()|0o020)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readmeSection returns the README's text from heading to the next "## ".
func readmeSection(t *testing.T, heading string) string {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q", heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// codeBlocks returns the fenced code blocks of text by language.
func codeBlocks(text string) map[string][]string {
	out := map[string][]string{}
	re := regexp.MustCompile("(?s)```(\\w+)\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// deployCommands are the `deploy …` lines of a shell block, as argv
// without "deploy" and without comments.
func deployCommands(block string) [][]string {
	var cmds [][]string
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "deploy" {
			cmds = append(cmds, f[1:])
		}
	}
	return cmds
}
