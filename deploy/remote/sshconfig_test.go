package remote_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/internal/sshtest"
)

// writeConfig writes an ssh_config into a fresh HOME and returns it.
func writeConfig(t *testing.T, config string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

func TestResolvePrecedence(t *testing.T) {
	const config = `
Host web
  HostName web.internal
  User deployer
  Port 2222
  IdentityFile ~/.ssh/web_%r_%h
  UserKnownHostsFile ~/.ssh/kh_%n %d/second

Host db
  HostName %h.example.org
  ProxyJump bastion

Host bastion
  HostName 10.0.0.1
  User jump
  Port 2200

Host chain
  ProxyJump ops@bastion:2201,ssh://web,[::1]:22

Host fwd
  ForwardAgent yes

Host *
  User fallback
`
	home := writeConfig(t, config)
	sshDir := filepath.Join(home, ".ssh")
	kh := []string{filepath.Join(sshDir, "known_hosts"), filepath.Join(sshDir, "known_hosts2")}
	var defaultIDs []string // OpenSSH's, when the config names none
	for _, id := range []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa"} {
		defaultIDs = append(defaultIDs, filepath.Join(sshDir, id))
	}
	tests := []struct {
		name      string
		target    remote.Target
		wantHost  string // user@host:port
		wantIDs   []string
		wantKH    []string
		wantKey   string
		wantJumps []string
		wantFwd   bool
	}{
		{name: "alias from ssh_config", target: remote.Target{Host: "web"},
			wantHost: "deployer@web.internal:2222",
			wantIDs:  []string{filepath.Join(sshDir, "web_deployer_web.internal")},
			wantKH:   []string{filepath.Join(sshDir, "kh_web"), home + "/second"}},
		{name: "deploy.conf wins over ssh_config", target: remote.Target{Host: "web", User: "root", Port: 22, KeyFile: "~/keys/k"},
			wantHost: "root@web.internal:22",
			wantIDs:  []string{filepath.Join(sshDir, "web_root_web.internal")},
			wantKH:   []string{filepath.Join(sshDir, "kh_web"), home + "/second"},
			wantKey:  filepath.Join(home, "keys", "k")},
		{name: "unknown host falls to Host * and defaults", target: remote.Target{Host: "plain.example"},
			wantHost: "fallback@plain.example:22", wantIDs: defaultIDs, wantKH: kh},
		{name: "HostName %h token and ProxyJump alias", target: remote.Target{Host: "db"},
			wantHost: "fallback@db.example.org:22", wantIDs: defaultIDs, wantKH: kh,
			wantJumps: []string{"jump@10.0.0.1:2200"}},
		{name: "several hops, explicit user and port win over the hop's config", target: remote.Target{Host: "chain"},
			wantHost: "fallback@chain:22", wantIDs: defaultIDs, wantKH: kh,
			wantJumps: []string{"ops@10.0.0.1:2201", "deployer@web.internal:2222", "fallback@[::1]:22"}},
		{name: "ForwardAgent from ssh_config", target: remote.Target{Host: "fwd"},
			wantHost: "fallback@fwd:22", wantIDs: defaultIDs, wantKH: kh, wantFwd: true},
		{name: "ForwardAgent from deploy.conf", target: remote.Target{Host: "plain", ForwardAgent: true},
			wantHost: "fallback@plain:22", wantIDs: defaultIDs, wantKH: kh, wantFwd: true},
	}
	for _, tt := range tests {
		forEachResolver(t, tt.name, func(t *testing.T, res remote.Resolver) {
			r, err := remote.Resolve(tt.target, remote.Options{HomeDir: home, Resolver: res})
			if err != nil {
				t.Fatal(err)
			}
			h := r.Host
			if h.String() != tt.wantHost {
				t.Errorf("host = %s, want %s", h, tt.wantHost)
			}
			if !reflect.DeepEqual(h.IdentityFiles, tt.wantIDs) {
				t.Errorf("IdentityFiles = %q, want %q", h.IdentityFiles, tt.wantIDs)
			}
			if got := withoutGlobal(h.KnownHostsFiles); !reflect.DeepEqual(got, tt.wantKH) {
				t.Errorf("KnownHostsFiles = %q, want %q", got, tt.wantKH)
			}
			if h.KeyFile != tt.wantKey {
				t.Errorf("KeyFile = %q, want %q", h.KeyFile, tt.wantKey)
			}
			var jumps []string
			for _, j := range r.Jumps {
				jumps = append(jumps, j.String())
			}
			if !reflect.DeepEqual(jumps, tt.wantJumps) {
				t.Errorf("Jumps = %q, want %q", jumps, tt.wantJumps)
			}
			if r.ForwardAgent != tt.wantFwd {
				t.Errorf("ForwardAgent = %v, want %v", r.ForwardAgent, tt.wantFwd)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		target  remote.Target
		want    []string // either resolver
		builtin []string // the built-in reader, which names file:line
	}{
		{name: "no host", want: []string{"no host given", "`host`"}},
		{name: "option as host", target: remote.Target{Host: "-oProxyCommand=x"}, want: []string{"not a valid host"}},
		{name: "space in host", target: remote.Target{Host: "two words"}, want: []string{"not a valid host"}},
		{name: "bad port", config: "Host badport\n  Port twenty\n", target: remote.Target{Host: "badport"},
			want: []string{"twenty"}, builtin: []string{"config:2", "Port", "twenty"}},
		{name: "port out of range", target: remote.Target{Host: "x", Port: 70000}, want: []string{"port 70000 is out of range"}},
		{name: "jump loop", config: "Host loop\n  ProxyJump loop2\nHost loop2\n  ProxyJump loop\n", target: remote.Target{Host: "loop"},
			want: []string{"longer than 8 hops"}},
		{name: "bad jump", config: "Host badjump\n  ProxyJump a:notaport\n", target: remote.Target{Host: "badjump"},
			want: []string{"ProxyJump", "notaport"}},
		{name: "bad token", config: "Host badtoken\n  IdentityFile ~/.ssh/%Z\n", target: remote.Target{Host: "badtoken"},
			want: []string{"%Z", "IdentityFile"}},
		{name: "match exec", config: "Match exec true\n  User x\n", target: remote.Target{Host: "h"},
			builtin: []string{"config:1", "Match exec", "not evaluated"}},
		{name: "match final", config: "Host a\nMatch final host h\n  User x\n", target: remote.Target{Host: "h"},
			builtin: []string{"config:2", "Match final"}},
		{name: "unknown criterion", config: "Match tagged x\n  User x\n", target: remote.Target{Host: "h"},
			want: []string{"tagged"}, builtin: []string{"config:1", "Match tagged"}},
		{name: "fd passing", config: "Host fd\n  ProxyCommand helper\n  ProxyUseFdpass yes\n", target: remote.Target{Host: "fd"},
			want: []string{"ProxyUseFdpass"}, builtin: []string{"config:3", "ProxyUseFdpass"}},
		{name: "canonicalize", config: "CanonicalizeHostname yes\n", target: remote.Target{Host: "h"},
			builtin: []string{"config:1", "CanonicalizeHostname"}},
	}
	for _, tt := range tests {
		forEachResolver(t, tt.name, func(t *testing.T, res remote.Resolver) {
			home := writeConfig(t, tt.config)
			want := tt.want
			if res == remote.ResolveBuiltin && tt.builtin != nil {
				want = tt.builtin
			}
			_, err := remote.Resolve(tt.target, remote.Options{HomeDir: home, Resolver: res})
			if want == nil {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Resolve succeeded, want an error")
			}
			wantContains(t, "error", err.Error(), want...)
			if res == remote.ResolveBuiltin && tt.builtin != nil {
				wantContains(t, "hint", hint.Of(err), "install the OpenSSH client")
			}
		})
	}
}

func TestResolveMissingConfigIsNoConfig(t *testing.T) {
	r, err := remote.Resolve(remote.Target{Host: "h", User: "u"}, remote.Options{HomeDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Host.String() != "u@h:22" || len(r.Jumps) != 0 {
		t.Errorf("resolved %s via %v, want u@h:22 direct", r.Host, r.Jumps)
	}
}

func TestSSHConfigAliasEndToEnd(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	config := fmt.Sprintf(`Host web
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile ~/keys/%%r-key
  UserKnownHostsFile ~/kh/%%h-%%p
`, s.Port(), s.User())
	home := sshtest.FakeHome(t, config, s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub", "known_hosts")
	for _, d := range []string{"keys", "kh"} {
		if err := os.Mkdir(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.ClientKey().CopyTo(t, filepath.Join(home, "keys", s.User()+"-key"))
	kh := filepath.Join(home, "kh", fmt.Sprintf("127.0.0.1-%d", s.Port()))
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	c := dial(t, remote.Target{Host: "web"}, remote.Options{HomeDir: home})
	if want := s.User() + "@" + s.Addr(); c.String() != want {
		t.Errorf("String() = %q, want %q", c.String(), want)
	}
	if got := output(t, c, "echo aliased"); got != "aliased\n" {
		t.Fatalf("output %q", got)
	}
	// With the config's known_hosts gone the host is unknown: proof that
	// UserKnownHostsFile, not ~/.ssh/known_hosts, was used.
	if err := os.Remove(kh); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Dial(ctxT(t), remote.Target{Host: "web"}, remote.Options{HomeDir: home}); !strings.Contains(fmt.Sprint(err), "unknown host key") {
		t.Errorf("Dial without UserKnownHostsFile: %v, want unknown host key", err)
	}
}

func TestProxyJump(t *testing.T) {
	isolate(t)
	jump := sshtest.Start(t, sshtest.Options{ExtraConfig: []string{"LogLevel DEBUG1"}})
	dest := sshtest.Start(t, sshtest.Options{})
	dest.AuthorizeKey(t, jump.ClientKey().Public()) // the home's id_ed25519
	config := fmt.Sprintf(`Host dest
  HostName 127.0.0.1
  Port %d
  ProxyJump jump
Host twice
  HostName 127.0.0.1
  Port %d
  ProxyJump jump,jump
Host jump
  HostName 127.0.0.1
  Port %d
`, dest.Port(), dest.Port(), jump.Port())
	home := sshtest.FakeHome(t, config, jump, dest)

	for _, tt := range []struct {
		alias     string
		wantConns int64
	}{{"dest", 2}, {"twice", 3}} {
		t.Run(tt.alias, func(t *testing.T) {
			var st remote.Stats
			c := dial(t, remote.Target{Host: tt.alias}, remote.Options{HomeDir: home, Stats: &st})
			if got := output(t, c, "echo $SSH_CONNECTION"); !strings.Contains(got, fmt.Sprint(dest.Port())) {
				t.Errorf("SSH_CONNECTION = %q, want the destination's port %d", got, dest.Port())
			}
			if got := st.Connections.Load(); got != tt.wantConns {
				t.Errorf("Connections = %d, want %d", got, tt.wantConns)
			}
			c.Close()
		})
	}
	// The jump host forwarded to the destination: its log says so.
	wantContains(t, "jump sshd log", jump.Logs(), fmt.Sprintf("target 127.0.0.1 port %d", dest.Port()))

	// A changed key on the jump host is refused like any other.
	jump.RotateHostKey()
	_, err := remote.Dial(ctxT(t), remote.Target{Host: "dest"}, remote.Options{HomeDir: home, AcceptNew: true})
	if err == nil {
		t.Fatal("Dial through a jump host with a changed key succeeded")
	}
	wantContains(t, "error", err.Error(), "via jump host", "CHANGED")
}

func TestForwardAgentVisibleOnServer(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	sock := serveAgent(t, s.ClientKey().Private)
	tg := target(s)
	tg.ForwardAgent = true
	c := dial(t, tg, remote.Options{HomeDir: home, AgentSocket: sock})
	// ssh-add talks to the forwarded agent through $SSH_AUTH_SOCK.
	out := output(t, c, `test -S "$SSH_AUTH_SOCK" && echo "sock ok" && ssh-add -l`)
	wantContains(t, "output", out, "sock ok", "(ED25519)", fingerprint(s))

	// Without ForwardAgent the session has no agent.
	tg.ForwardAgent = false
	c2 := dial(t, tg, remote.Options{HomeDir: home, AgentSocket: sock})
	if got := output(t, c2, `echo "[$SSH_AUTH_SOCK]"`); got != "[]\n" {
		t.Errorf("SSH_AUTH_SOCK without forwarding = %q, want empty", got)
	}

}

// OpenSSH sets up one forwarded agent per connection and refuses a second
// request: forwarding was asked for on every session, so the second
// session on a connection (check, status with procmon) failed. Every
// session, one after the other or at once, must see the agent.
func TestForwardAgentOnEverySessionOfAConnection(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	sock := serveAgent(t, s.ClientKey().Private)
	tg := target(s)
	tg.ForwardAgent = true
	var st remote.Stats
	c := dial(t, tg, remote.Options{HomeDir: home, AgentSocket: sock, Stats: &st})
	const probe = `test -S "$SSH_AUTH_SOCK" && echo "sock $SSH_AUTH_SOCK" && ssh-add -l`
	for i := range 3 {
		out := output(t, c, probe)
		wantContains(t, fmt.Sprintf("session %d", i+1), out, "sock /", fingerprint(s))
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var out bytes.Buffer
			err := c.Run(ctxT(t), probe, nil, &out, nil)
			if err == nil && !strings.Contains(out.String(), fingerprint(s)) {
				err = fmt.Errorf("no agent key in %q", out.String())
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent session: %v", err)
		}
	}
	if st.Connections.Load() != 1 || st.Sessions.Load() != 7 {
		t.Errorf("%d connection(s), %d session(s); want 1 and 7", st.Connections.Load(), st.Sessions.Load())
	}
}

// forward-agent with no agent reachable is what `ssh -A` makes of it: a
// warning, no forwarding, and the connection works (here with a key file).
// It used to fail the dial.
func TestForwardAgentWithoutAgentWarns(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	home := sshtest.FakeHome(t, "", s)
	tg := target(s)
	tg.ForwardAgent = true
	for name, sock := range map[string]string{"unset": "", "dead": filepath.Join(t.TempDir(), "gone.sock")} {
		t.Run(name, func(t *testing.T) {
			var notices []string
			logf := func(f string, a ...any) { notices = append(notices, fmt.Sprintf(f, a...)) }
			c := dial(t, tg, remote.Options{HomeDir: home, AgentSocket: sock, Logf: logf})
			for range 2 {
				if got := output(t, c, `echo "[$SSH_AUTH_SOCK]"`); got != "[]\n" {
					t.Errorf("SSH_AUTH_SOCK = %q, want none", got)
				}
			}
			want := "forward-agent is set but no ssh-agent is reachable; continuing without forwarding"
			if !slices.Contains(notices, want) {
				t.Errorf("notices = %q, want %q", notices, want)
			}
		})
	}
}

func TestIdentityAgentAndIdentitiesOnly(t *testing.T) {
	isolate(t)
	s := sshtest.Start(t, sshtest.Options{})
	other := sshtest.Start(t, sshtest.Options{})
	sock := serveAgent(t, other.ClientKey().Private, s.ClientKey().Private)
	config := fmt.Sprintf(`Host viaagent
  HostName 127.0.0.1
  Port %d
  IdentityAgent %s
Host only
  HostName 127.0.0.1
  Port %d
  IdentityAgent %s
  IdentitiesOnly yes
  IdentityFile ~/.ssh/other_key
`, s.Port(), sock, s.Port(), sock)
	home := sshtest.FakeHome(t, config, s)
	removeFiles(t, home, "id_ed25519", "id_ed25519.pub")

	// IdentityAgent points at the agent holding the right key.
	c := dial(t, remote.Target{Host: "viaagent"}, remote.Options{HomeDir: home})
	if got := output(t, c, "echo agent"); got != "agent\n" {
		t.Fatalf("output %q", got)
	}
	// IdentitiesOnly: the agent holds the right key, but only other_key may
	// be offered, and s does not accept it.
	other.ClientKey().CopyTo(t, filepath.Join(home, ".ssh", "other_key"))
	_, err := remote.Dial(ctxT(t), remote.Target{Host: "only"}, remote.Options{HomeDir: home})
	if err == nil {
		t.Fatal("IdentitiesOnly offered an agent key that matches no IdentityFile")
	}
	wantContains(t, "error", err.Error(), "offered 1")
}
