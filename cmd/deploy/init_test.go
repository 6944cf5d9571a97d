package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// initRepo is an app's clone: a Node app whose origin is a URL.
func initRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shop")
	for _, args := range [][]string{{"init", "-q", "-b", "main", dir}, {"-C", dir, "remote", "add", "origin", "git@example.com:me/shop.git"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	writeFile(t, filepath.Join(dir, "package.json"), `{"name": "shop", "scripts": {"start": "node server.js"}}`)
	writeFile(t, filepath.Join(dir, "package-lock.json"), "{}")
	return dir
}

func runInit(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"deploy"}, args...), strings.NewReader(stdin), &out, &errOut)
	code := exitCode(context.Background(), err, &errOut) // prints the error
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// TestInit: init detects the stack, takes the repo from the clone's
// origin, writes deploy.conf and procmon.toml and prints the server steps;
// it never overwrites them without --force.
func TestInit(t *testing.T) {
	dir := initRepo(t)
	r := runInit(t, "", "-C", dir, "init", "--host", "web1.example.com", "--path", "/var/www/shop")
	if r.code != 0 {
		t.Fatalf("init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"app shop: detected node (package.json + package-lock.json)", "wrote " + filepath.Join(dir, "deploy.conf"),
		"wrote " + filepath.Join(dir, "procmon.toml"), "systemctl enable --now procmon@shop", "deploy production setup"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "deploy.conf"))
	for _, want := range []string{"\nbuild auto\n", "\nrepo git@example.com:me/shop.git\n", "\nprocmon /etc/procmon/shop.toml\n", "\nhost web1.example.com\n"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("deploy.conf lacks %q:\n%s", strings.TrimSpace(want), conf)
		}
	}
	// The file it wrote is one deploy reads.
	if r := runInit(t, "", "-C", dir, "production", "config", "build"); r.code != 0 || r.stdout != "auto\n" {
		t.Errorf("deploy production config build: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	writeFile(t, filepath.Join(dir, "procmon.toml"), "# mine\n")
	r = runInit(t, "", "-C", dir, "init", "--host", "other", "--path", "/srv/x")
	if r.code == 0 || !strings.Contains(r.stderr, "exists: init never overwrites it") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("init over existing files: exit %d\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "procmon.toml")); string(b) != "# mine\n" {
		t.Errorf("procmon.toml was overwritten without --force")
	}
	r = runInit(t, "", "-C", dir, "init", "--host", "other", "--path", "/srv/x", "--force")
	if b, _ := os.ReadFile(filepath.Join(dir, "deploy.conf")); r.code != 0 || !strings.Contains(string(b), "\nhost other\n") {
		t.Errorf("init --force: exit %d %s\n%s", r.code, r.stderr, b)
	}
}

// TestInitAsks: without --host and --path, init asks for them (the path
// has a default); with no answer it says which flag to pass.
func TestInitAsks(t *testing.T) {
	dir := initRepo(t)
	r := runInit(t, "", "-C", dir, "init")
	if r.code == 0 || !strings.Contains(r.stderr, "--host") {
		t.Errorf("init with no answers: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "deploy.conf")); err == nil {
		t.Errorf("init without a host wrote deploy.conf")
	}
	r = runInit(t, "deploy@web2:2222\n\n", "-C", dir, "init")
	if r.code != 0 {
		t.Fatalf("init with answers: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "deploy.conf"))
	if !strings.Contains(string(conf), "\nhost deploy@web2:2222\n") || !strings.Contains(string(conf), "\npath /var/www/shop\n") ||
		strings.Contains(string(conf), "\nuser deploy\n") {
		t.Errorf("deploy.conf from the answers:\n%s", conf)
	}
}

// TestInitRepoAndPath: with several remotes, repo is origin's, whatever
// order git lists them in (go-git's is a map's: it was a random one);
// without origin and with several, init asks. A relative --path is
// refused before anything is written, as deploy.conf would refuse it.
func TestInitRepoAndPath(t *testing.T) {
	dir := initRepo(t)
	for _, args := range [][]string{{"remote", "add", "upstream", "git@example.com:them/shop.git"}, {"remote", "add", "fork", "git@example.com:fork/shop.git"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	r := runInit(t, "", "-C", dir, "init", "--host", "web1", "--path", "srv/shop")
	if r.code == 0 || !strings.Contains(r.stderr, `path "srv/shop" is not absolute`) {
		t.Errorf("init --path srv/shop: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "deploy.conf")); err == nil {
		t.Fatalf("init with a relative path wrote deploy.conf")
	}
	for i := 0; i < 5; i++ {
		r = runInit(t, "", "-C", dir, "init", "--host", "web1", "--path", "/srv/shop", "--force")
		conf, _ := os.ReadFile(filepath.Join(dir, "deploy.conf"))
		if r.code != 0 || !strings.Contains(string(conf), "\nrepo git@example.com:me/shop.git\n") {
			t.Fatalf("init with origin, upstream and fork: exit %d %s\n%s", r.code, r.stderr, conf)
		}
	}
	if out, err := exec.Command("git", "-C", dir, "remote", "remove", "origin").CombinedOutput(); err != nil {
		t.Fatalf("git remote remove: %v\n%s", err, out)
	}
	r = runInit(t, "", "-C", dir, "init", "--host", "web1", "--path", "/srv/shop", "--force")
	if r.code == 0 || !strings.Contains(r.stderr, "--repo") {
		t.Errorf("init with two remotes and no origin: exit %d, want it to ask for the repo\n%s", r.code, r.stderr)
	}
}

// TestInitReaderGone: a reader that goes away before init is done
// (deploy init | head -1) ends the process at its next write, with
// SIGPIPE; init writes both files before it says so, so that it never
// leaves deploy.conf without procmon.toml. The process asks for the host
// after its first line and waits, so the reader closes exactly there.
func TestInitReaderGone(t *testing.T) {
	bin := buildDeploy(t)
	dir := initRepo(t)
	cmd := exec.Command(bin, "-C", dir, "init", "--path", "/srv/shop")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// all it prints before it reads the answer: the first line, and the
	// question (which ends without a newline)
	var got []byte
	for !bytes.HasSuffix(got, []byte("alias): ")) {
		b := make([]byte, 256)
		n, err := out.Read(b)
		got = append(got, b[:n]...)
		if err != nil {
			t.Fatalf("output %q, %v", got, err)
		}
	}
	out.Close() // as | head -1 does after its line
	io.WriteString(in, "web1.example.com\n")
	in.Close()
	err = cmd.Wait()
	t.Logf("init with its reader gone: %v", err)
	for _, f := range []string{"deploy.conf", "procmon.toml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
