package remote_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
)

// corpusDir holds real-world shaped ssh_config files; home/ is copied to
// the test's HOME (Include resolves relative paths under ~/.ssh).
const corpusDir = "testdata/sshconfig"

// TestSSHConfigCorpusMatchesSSHG resolves every host of every corpus file
// three ways: the raw output of `ssh -G`, the tool through ssh -G, and the
// built-in reader. The tool must print what ssh -G says; the built-in
// reader must print the same or, for the files whose header says
// "builtin-refuses: N", fail naming that file and line.
func TestSSHConfigCorpusMatchesSSHG(t *testing.T) {
	requireSSH(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.conf"))
	if err != nil || len(files) < 30 {
		t.Fatalf("corpus has %d files (%v), want at least 30", len(files), err)
	}
	home := corpusHome(t)
	for _, file := range files {
		file, _ := filepath.Abs(file)
		c := readCorpusFile(t, file)
		t.Run(filepath.Base(file), func(t *testing.T) {
			for _, host := range c.hosts {
				want := rawSSHG(t, home, file, host)
				o := remote.Options{HomeDir: home, SSHConfigFile: file, Resolver: remote.ResolveSSH}
				got, err := remote.Describe(remote.Target{Host: host}, o)
				if err != nil {
					t.Fatalf("%s: Describe with ssh -G: %v", host, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: tool via ssh -G:\n%s\nssh -G says:\n%s", host, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				o.Resolver = remote.ResolveBuiltin
				builtin, err := remote.Describe(remote.Target{Host: host}, o)
				checkBuiltin(t, c, host, builtin, want, err)
			}
		})
	}
}

// checkBuiltin checks the built-in reader: ssh -G's answer, or a refusal
// naming the file and line the corpus file's header gives.
func checkBuiltin(t *testing.T, c corpusFile, host string, got, want []string, err error) {
	t.Helper()
	if c.refuses != "" {
		at := c.path + ":" + c.refuses
		if err == nil || !strings.Contains(err.Error(), at) {
			t.Errorf("%s: built-in reader: err = %v, want a refusal naming %s", host, err, at)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: built-in reader: %v", host, err)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: built-in reader:\n%s\nssh -G says:\n%s", host, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// corpusFile is a corpus config: its hosts to resolve (every literal Host
// pattern, the "# hosts:" header's, and one no block names) and the line
// the built-in reader must refuse ("" = none).
type corpusFile struct {
	path    string
	hosts   []string
	refuses string
}

func readCorpusFile(t *testing.T, path string) corpusFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := corpusFile{path: path}
	seen := map[string]bool{}
	add := func(h string) {
		if !seen[h] && h != "" && !strings.ContainsAny(h, "*?!#\"") {
			seen[h] = true
			c.hosts = append(c.hosts, h)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(strings.ReplaceAll(sc.Text(), "=", " "))
		switch {
		case len(f) > 1 && strings.EqualFold(f[0], "host"):
			for _, p := range f[1:] {
				if strings.HasPrefix(p, "#") {
					break
				}
				add(p)
			}
		case len(f) > 2 && f[0] == "#" && f[1] == "hosts:":
			for _, h := range f[2:] {
				add(h)
			}
		case len(f) == 3 && f[0] == "#" && f[1] == "builtin-refuses:":
			c.refuses = f[2]
		}
	}
	add("unlisted.example")
	return c
}

// corpusHome makes HOME a copy of testdata/sshconfig/home.
func corpusHome(t *testing.T) string {
	home := t.TempDir()
	src := filepath.Join(corpusDir, "home")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(home, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(home, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	return home
}

// rawSSHG runs ssh -G itself and renders, independently of the tool, the
// lines Describe must print: ~ and the tokens ssh leaves for connect time
// expanded (with HOME for ~ and %d), the known_hosts files ssh expanded
// with the login user's real home moved to HOME, and the tool's defaults
// where ssh has none (connecttimeout 10, serveraliveinterval 15).
func rawSSHG(t *testing.T, home, file, host string) []string {
	t.Helper()
	cmd := exec.Command("ssh", "-G", "-F", file, "--", host)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh -G %s: %v", host, err)
	}
	g := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, " ")
		g[k] = append(g[k], v)
	}
	one := func(k string) string { return strings.Join(g[k], "") }
	port, _ := strconv.Atoi(one("port"))
	ex := expander{home: home, host: one("hostname"), alias: host, port: one("port"), user: one("user")}
	lines := []string{"hostname " + one("hostname"), "port " + strconv.Itoa(port), "user " + one("user")}
	for _, f := range g["identityfile"] {
		lines = append(lines, "identityfile "+quoted(ex.path(f)))
	}
	for _, f := range g["certificatefile"] {
		lines = append(lines, "certificatefile "+quoted(ex.path(f)))
	}
	lines = append(lines, "userknownhostsfile "+ex.knownHosts(one("userknownhostsfile")))
	for _, k := range []string{"hostkeyalias", "proxyjump", "proxycommand"} {
		if v := one(k); v != "" && v != "none" {
			if k == "proxycommand" {
				v = ex.tokens(v)
			}
			lines = append(lines, k+" "+v)
		}
	}
	for _, k := range []string{"sendenv", "setenv"} {
		for _, v := range g[k] {
			lines = append(lines, k+" "+v)
		}
	}
	// the login and known_hosts keywords, where ssh -G says they are not
	// OpenSSH's defaults
	for _, kv := range [][2]string{{"batchmode", "no"}, {"connectionattempts", "1"}, {"numberofpasswordprompts", "3"},
		{"hashknownhosts", "no"}, {"checkhostip", "no"}, {"addkeystoagent", "false"}, {"controlmaster", "false"}} {
		if v := one(kv[0]); v != kv[1] {
			lines = append(lines, kv[0]+" "+v)
		}
	}
	if v := one("controlpath"); v != "" && v != "none" {
		// expanded by ssh -G itself, ~ as the passwd entry's home, which
		// the test's home stands in for (as it does for the tool)
		if u, err := user.Current(); err == nil && strings.HasPrefix(v, u.HomeDir+"/") {
			v = home + v[len(u.HomeDir):]
		}
		lines = append(lines, "controlpath "+v)
	}
	ct := one("connecttimeout")
	if ct == "none" {
		ct = "10"
	}
	sai := one("serveraliveinterval")
	if sai == "0" {
		sai = "15"
	}
	return append(lines, "stricthostkeychecking "+one("stricthostkeychecking"), "connecttimeout "+ct, "serveraliveinterval "+sai)
}

// expander is the test's own, deliberately plain, token expansion.
type expander struct{ home, host, alias, port, user string }

func (e expander) tokens(s string) string {
	u, _ := user.Current()
	return strings.NewReplacer("%%", "%", "%h", e.host, "%p", e.port, "%r", e.user, "%n", e.alias,
		"%d", e.home, "%u", u.Username).Replace(s)
}

func (e expander) path(s string) string {
	if s == "~" || strings.HasPrefix(s, "~/") {
		s = e.home + s[1:]
	}
	return e.tokens(s)
}

// knownHosts re-renders ssh's space-joined list: a word not starting
// with / continues the previous path (ssh prints them unquoted).
func (e expander) knownHosts(v string) string {
	if v == "none" {
		return v
	}
	u, _ := user.Current()
	var files []string
	for _, w := range strings.Split(v, " ") {
		if len(files) > 0 && !strings.HasPrefix(w, "/") {
			files[len(files)-1] += " " + w
			continue
		}
		files = append(files, w)
	}
	for i, f := range files {
		if f == u.HomeDir || strings.HasPrefix(f, u.HomeDir+"/") {
			f = e.home + f[len(u.HomeDir):]
		}
		files[i] = quoted(f)
	}
	return strings.Join(files, " ")
}

func quoted(p string) string {
	if strings.Contains(p, " ") {
		return fmt.Sprintf("%q", p)
	}
	return p
}
