package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/testusers"
)

// laptopHost is a server whose login user cannot read the origin at all
// (it lives in root's 0700 temp dir), and a laptop clone of that origin
// holding the deploy.conf: only what ships from the laptop (source push,
// build local) can deploy there.
type laptopHost struct {
	*fixture
	laptop   string // the laptop's clone; the config is in it
	deployer testusers.Account
}

func newLaptopHost(t *testing.T, extra ...string) *laptopHost {
	t.Helper()
	deployer := testusers.AddUser(t)
	sshd := sshtest.Start(t, sshtest.Options{User: deployer.Name})
	f := &fixture{t: t, sshd: sshd, origin: newOrigin(t), home: sshtest.FakeHome(t, "", sshd),
		path: filepath.Join(deployer.Home, "app")}
	useHome(t, f.home)
	t.Setenv("SSH_AUTH_SOCK", "")
	h := &laptopHost{fixture: f, laptop: filepath.Join(t.TempDir(), "laptop"), deployer: deployer}
	f.origin.git("-C", f.origin.dir, "config", "receive.denyCurrentBranch", "ignore") // the laptop pushes to it
	f.origin.git("clone", "-q", f.origin.dir, h.laptop)
	lines := append([]string{
		"[production]",
		"user " + sshd.User(),
		"host " + sshd.Host(),
		fmt.Sprintf("port %d", sshd.Port()),
		"repo " + f.origin.dir,
		"path ~/app",
		"ref main",
	}, extra...)
	f.conf = filepath.Join(h.laptop, "deploy.conf")
	writeFile(t, f.conf, strings.Join(lines, "\n")+"\n")
	return h
}

// commit makes a commit in the laptop's clone that changes VERSION (and
// pushes it to the origin when push is true) and returns its sha.
func (h *laptopHost) commit(version string, push bool) string {
	h.t.Helper()
	writeFile(h.t, filepath.Join(h.laptop, "VERSION"), version+"\n")
	h.origin.git("-C", h.laptop, "add", "VERSION")
	h.origin.git("-C", h.laptop, "commit", "-q", "-m", version)
	if push {
		h.origin.git("-C", h.laptop, "push", "-q", "origin", "main")
	}
	return h.origin.git("-C", h.laptop, "rev-parse", "HEAD")
}

var sentObjects = regexp.MustCompile(`push: sent (\d+) objects \((\d+) bytes\)`)

// sent returns the objects and bytes a deploy's output says it pushed
// (0, 0 for "nothing sent").
func sent(t *testing.T, out string) (objects, bytes int) {
	t.Helper()
	if strings.Contains(out, "push: the server already has") {
		return 0, 0
	}
	m := sentObjects.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the deploy did not say what it pushed:\n%s", out)
	}
	objects, _ = strconv.Atoi(m[1])
	bytes, _ = strconv.Atoi(m[2])
	return objects, bytes
}

// TestSourcePush: the server user cannot read the origin (a fetch deploy
// fails there), and source push deploys, reverts and redeploys, sending
// each time only the objects the server's mirror lacks: all of the
// history first, a one-file commit's three objects next, nothing for a
// commit the server has. Commits not pushed to the origin are refused
// unless --force, as for a fetch deploy.
func TestSourcePush(t *testing.T) {
	h := newLaptopHost(t, "source push")
	// the premise: this server cannot reach the origin
	fetchConf := filepath.Join(t.TempDir(), "fetch.conf")
	text, _ := os.ReadFile(h.conf)
	writeFile(t, fetchConf, strings.Replace(string(text), "source push", "source fetch", 1))
	if r := h.runArgs("-c", fetchConf, "production", "setup"); r.code == 0 {
		t.Fatalf("setup with source fetch worked, so the server can read the origin: the test proves nothing\n%s", r.stdout)
	}

	h.mustRun("production", "setup")
	if _, err := os.Stat(filepath.Join(h.path, "repo", "HEAD")); err != nil {
		t.Fatalf("setup made no bare repository for the pushes: %v", err)
	}
	first := h.origin.git("-C", h.laptop, "rev-parse", "HEAD")
	dry := h.mustRun("production", "--dry-run")
	if !strings.Contains(dry.stdout, "= "+first[:7]+" (this clone's commit, shipped from here)") || !strings.Contains(dry.stdout, "the git objects of "+first[:7]) {
		t.Errorf("the dry run does not say that the laptop's %s is pushed:\n%s", first[:7], dry.stdout)
	}
	r := h.mustRun("production")
	objects, _ := sent(t, r.stdout)
	if objects != 3 { // commit, tree, VERSION's blob
		t.Errorf("the first push sent %d objects, want 3 (the whole one-commit history)\n%s", objects, r.stdout)
	}
	if got := h.currentSHA(); got != first {
		t.Fatalf("current runs %s, want the laptop's %s", got, first)
	}

	// a commit not pushed to the origin: refused, as for a fetch deploy
	second := h.commit("v2", false)
	r = h.runArgs("-c", h.conf, "production")
	if r.code == 0 || !strings.Contains(r.stderr, "not pushed") {
		t.Fatalf("an unpushed commit was deployed (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := h.currentSHA(); got != first {
		t.Fatalf("a refused deploy changed current to %s", got)
	}
	h.origin.git("-C", h.laptop, "push", "-q", "origin", "main")
	r = h.mustRun("production")
	objects, bytes := sent(t, r.stdout)
	if objects != 3 || bytes <= 0 || bytes > 4096 { // the new commit, its tree, the new blob
		t.Errorf("a one-file commit sent %d objects (%d bytes), want 3 objects and a few hundred bytes\n%s", objects, bytes, r.stdout)
	}
	if got := h.currentSHA(); got != second {
		t.Fatalf("current runs %s, want %s", got, second)
	}
	releaseFile := filepath.Join(h.path, "current", "VERSION")
	if b, _ := os.ReadFile(releaseFile); string(b) != "v2\n" {
		t.Errorf("the release's VERSION is %q, want v2", b)
	}

	h.mustRun("production", "revert")
	if got := h.currentSHA(); got != first {
		t.Fatalf("revert left current at %s, want %s", got, first)
	}
	// the server has the commit already: nothing is sent
	r = h.mustRun("production")
	if objects, _ := sent(t, r.stdout); objects != 0 {
		t.Errorf("redeploying a commit the server has sent %d objects\n%s", objects, r.stdout)
	}
	if got := h.currentSHA(); got != second {
		t.Fatalf("current runs %s, want %s", got, second)
	}
	want := []string{"deploy", "deploy", "revert", "deploy"}
	if got := h.events(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf(".deploys events are %v, want %v", got, want)
	}

	// --force ships an unpushed commit, saying so
	third := h.commit("v3", false)
	r = h.mustRun("production", "--force")
	if !strings.Contains(r.stderr, "not pushed") || h.currentSHA() != third {
		t.Errorf("--force did not ship the unpushed commit with a warning (current %s)\nstderr:\n%s", h.currentSHA(), r.stderr)
	}
	// git in a hook sees the pushed commit, as in a fetch deploy's release
	if out := h.mustRun("production", "exec", "git", "rev-parse", "HEAD"); !strings.Contains(out.stdout, third) {
		t.Errorf("git rev-parse HEAD in the release says %q, want %s", out.stdout, third)
	}
}

// runArgs runs the deploy command line with exactly args (no -c added).
func (f *fixture) runArgs(args ...string) cliResult {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, append([]string{"deploy"}, args...), strings.NewReader(""), &out, &errOut)
	code := exitCode(ctx, err, &errOut)
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// TestGitPush: setup --git-remote adds a git remote named after the env
// and receive hooks on the server; `git push production main` (the real
// git over the real ssh) runs the same deploy there, its output streamed
// back by git, and a push of another branch is refused with current
// untouched. A hook's output that looks like the script's protocol lines
// is passed on as it is (the hook used to show "@@deploy step x" as a
// step, "==> x", and hide any other).
func TestGitPush(t *testing.T) {
	h := newLaptopHost(t, "source push", "pre-deploy echo '@@deploy step not-a-step'; echo '@@deploy info hidden-before'",
		`release-command echo "${DEPLOY_RELEASE##*/}" >> "$SHARED/migrated"`)
	r := h.mustRun("production", "setup", "--git-remote")
	if !strings.Contains(r.stdout, "git push production main") {
		t.Errorf("setup --git-remote did not say how to push:\n%s", r.stdout)
	}
	gitPush := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", h.laptop, "push"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i "+
			h.sshd.ClientKeyFile()+" -o UserKnownHostsFile="+h.sshd.KnownHostsFile())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	sha := h.commit("v2", true)
	out, err := gitPush("production", "main")
	if err != nil || !strings.Contains(out, "deployed "+sha[:7]) || !strings.Contains(out, "==> switch") {
		t.Fatalf("git push production main: %v\n%s", err, out)
	}
	if !strings.Contains(out, "@@deploy step not-a-step") || strings.Contains(out, "==> not-a-step") || !strings.Contains(out, "@@deploy info hidden-before") {
		t.Errorf("the hook's protocol-like lines were not passed on as output:\n%s", out)
	}
	if got := h.currentSHA(); got != sha {
		t.Fatalf("after git push, current runs %s, want %s", got, sha)
	}
	// the push's deploy runs release-command too (migrations), as the CLI's
	if b, _ := os.ReadFile(filepath.Join(h.path, "shared", "migrated")); string(b) != h.current()+"\n" {
		t.Errorf("after git push, release-command's record reads %q, want %s", b, h.current())
	}
	log, _ := os.ReadFile(filepath.Join(h.path, ".deploys"))
	if !strings.Contains(string(log), "git push from 127.0.0.1") || !strings.Contains(string(log), "\tdeploy\tmain") {
		t.Errorf(".deploys does not log the push's deploy:\n%s", log)
	}

	h.origin.git("-C", h.laptop, "checkout", "-q", "-b", "feature")
	other := h.commit("v3-feature", false)
	out, err = gitPush("production", "feature")
	if err == nil || !strings.Contains(out, "deploys branch main only") {
		t.Errorf("a push of another branch was not refused: %v\n%s", err, out)
	}
	if got := h.currentSHA(); got != sha {
		t.Errorf("a refused push moved current to %s (the feature commit is %s)", got, other)
	}
	// a second setup --git-remote keeps the remote it made
	h.mustRun("production", "setup", "--git-remote")
}
