package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzResolve feeds arbitrary ssh_config text and host names to the
// built-in reader: it must return a result or an error, never panic.
func FuzzResolve(f *testing.F) {
	f.Add("Host web\n  HostName 10.0.0.1\n  Port 22\n  ProxyJump a@b:1,c\n", "web")
	f.Add("Host *\n  IdentityFile ~/.ssh/%r@%h\n  UserKnownHostsFile %d/kh none\n", "x")
	f.Add("Match host x\n  User y\n", "x")
	f.Add("Host a\tb !c\n  Port 2\nMatch !host d,e user f exec g\n  User h\n", "a")
	f.Add("Host=x\n  ProxyCommand ssh -W %h:%p j\n  UserKnownHostsFile \"a b\" 'c'\n", "x")
	f.Add("Host a\n ProxyJump b\nHost b\n ProxyJump a\n", "a")
	home := f.TempDir()
	cfg := filepath.Join(home, "config")
	f.Fuzz(func(t *testing.T, config, host string) {
		if strings.Contains(strings.ToLower(config), "include") {
			// Include reads arbitrary files (/dev/stdin blocks): the
			// ssh_config library's concern, not ours.
			t.Skip()
		}
		if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = Resolve(Target{Host: host}, Options{HomeDir: home, SSHConfigFile: cfg, Resolver: ResolveBuiltin})
	})
}

// FuzzParseJump checks ProxyJump entries never panic the parser and that
// what it accepts has a host and a valid port.
func FuzzParseJump(f *testing.F) {
	for _, s := range []string{"h", "u@h:22", "ssh://u@[::1]:2222", "@:", "[]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, host, port, err := parseJump(spec)
		if err == nil && (host == "" || port < 0 || port > 65535) {
			t.Fatalf("parseJump(%q) accepted host %q port %d", spec, host, port)
		}
	})
}
