package procmon

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/procmon/proxy"
)

const fullConfig = `name = "vmblog"
dir = "/var/www/vmblog/current"   # symlink resolved at each worker start
command = ["node", "server.js"]
workers = 2
listen = "127.0.0.1:8080"
mode = "proxy"
restart_file = "public/system/restart"
env = { NODE_ENV = "production" }
stop_signal = "SIGTERM"
stop_timeout = "30s"
socket = "/run/procmon/vmblog.sock"
[ready]
check = "http"
path = "/"
timeout = "60s"
min_uptime = "2500ms"
[heartbeat]
interval = "10s"
timeout = "10s"
path = "/"
guard = "10s"
[log]
file = "/var/log/procmon/vmblog.log"
max_size = "10MB"
`

func TestParseConfigFull(t *testing.T) {
	cfg, err := ParseConfig("vmblog.toml", []byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Path: "vmblog.toml", Name: "vmblog", Dir: "/var/www/vmblog/current", Command: []string{"node", "server.js"},
		Workers: 2, Listen: "127.0.0.1:8080", Mode: ModeProxy, RestartFile: "public/system/restart",
		StopSignal: syscall.SIGTERM, StopTimeout: 30 * time.Second, Socket: "/run/procmon/vmblog.sock",
		Ready:     Ready{Check: ReadyHTTP, Path: "/", Timeout: time.Minute, MinUptime: 2500 * time.Millisecond},
		Heartbeat: Heartbeat{Interval: 10 * time.Second, Timeout: 10 * time.Second, Path: "/", Guard: 10 * time.Second},
		Log:       Log{File: "/var/log/procmon/vmblog.log", MaxSize: 10 << 20},
	}
	if cfg.Env["NODE_ENV"] != "production" {
		t.Fatalf("env: %v", cfg.Env)
	}
	cfg.Env = nil
	if got := *cfg; !equalConfig(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func equalConfig(a, b Config) bool {
	return strings.Join(a.Command, " ") == strings.Join(b.Command, " ") &&
		a.Path == b.Path && a.Name == b.Name && a.Dir == b.Dir && a.Workers == b.Workers && a.Listen == b.Listen &&
		a.Mode == b.Mode && a.RestartFile == b.RestartFile && a.StopSignal == b.StopSignal &&
		a.StopTimeout == b.StopTimeout && a.Socket == b.Socket && a.Ready == b.Ready && a.Heartbeat == b.Heartbeat && a.Log == b.Log
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig("/etc/procmon/shop.toml", []byte("dir = \"/srv/shop\"\ncommand = [\"./shop\"]\nlisten = \":8080\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "shop" || cfg.Workers != 1 || cfg.Mode != ModeProxy || cfg.StopSignal != syscall.SIGTERM ||
		cfg.StopTimeout != 30*time.Second || cfg.Ready != (Ready{Check: ReadyHTTP, Path: "/", Timeout: time.Minute, MinUptime: time.Second}) ||
		cfg.Heartbeat.Interval != 0 || cfg.Heartbeat.Guard != 10*time.Second || cfg.Socket != "/run/procmon/shop.sock" || cfg.Log.MaxSize != 10<<20 {
		t.Fatalf("defaults: %+v", cfg)
	}
	sock, _ := ParseConfig("x.toml", []byte("dir = \"/a\"\ncommand = [\"a\"]\nlisten = \":1\"\nmode = \"socket\"\n"))
	none, _ := ParseConfig("x.toml", []byte("dir = \"/a\"\ncommand = [\"a\"]\nmode = \"none\"\n"))
	if sock.Ready.Check != ReadyAccept || none.Ready.Check != ReadyStarted {
		t.Fatalf("ready defaults: socket %q, none %q", sock.Ready.Check, none.Ready.Check)
	}
}

// TestParseConfigErrors: every bad input names the file, the line and the key.
func TestParseConfigErrors(t *testing.T) {
	base := "dir = \"/srv/app\"\ncommand = [\"app\"]\nlisten = \"127.0.0.1:8080\"\n"
	cases := []struct {
		name, doc, want string
	}{
		{"unknown key", base + "wokers = 2\n", `app.toml:4: unknown key "wokers"`},
		{"unknown key in section", base + "[ready]\ncheck = \"http\"\ntimout = \"1s\"\n", `app.toml:6: unknown key "ready.timout"`},
		{"unknown section", base + "[health]\npath = \"/\"\n", `unknown key "health`},
		{"bad duration", base + "stop_timeout = \"30\"\n", `app.toml:4: key "stop_timeout": "30" is not a duration`},
		{"bad duration in section", base + "[heartbeat]\ninterval = \"often\"\n", `app.toml:5: key "heartbeat.interval": "often" is not a duration`},
		{"missing command", "dir = \"/srv/app\"\nlisten = \":80\"\n", `key "command": missing`},
		{"empty command", base[:17] + "command = []\nlisten = \":80\"\n", `app.toml:2: key "command": missing`},
		{"missing dir", "command = [\"a\"]\nlisten = \":80\"\n", `key "dir": missing`},
		{"relative dir", "dir = \"srv\"\ncommand = [\"a\"]\nlisten = \":80\"\n", `app.toml:1: key "dir": "srv" must be an absolute path`},
		{"port out of range", "dir = \"/a\"\ncommand = [\"a\"]\nlisten = \"127.0.0.1:99999\"\n", `app.toml:3: key "listen": port 99999 is not usable`},
		{"port not a number", "dir = \"/a\"\ncommand = [\"a\"]\nlisten = \"localhost:http\"\n", `key "listen": "localhost:http": port "http" is not a number`},
		{"no listen", "dir = \"/a\"\ncommand = [\"a\"]\n", `key "listen": missing`},
		{"bad mode", base + "mode = \"cluster\"\n", `app.toml:4: key "mode": "cluster" is not one of proxy, socket, none`},
		{"workers zero", base + "workers = 0\n", `app.toml:4: key "workers": 0 must be between 1 and 1024`},
		{"workers type", base + "workers = \"2\"\n", `app.toml:4: key "workers"`},
		{"bad signal", base + "stop_signal = \"SIGSTOPP\"\n", `key "stop_signal": "SIGSTOPP" is not a signal`},
		{"http check in socket mode", base + "mode = \"socket\"\n[ready]\ncheck = \"http\"\n", `app.toml:6: key "ready.check": "http" needs a port`},
		{"accept check in proxy mode", base + "[ready]\ncheck = \"accept\"\n", `app.toml:5: key "ready.check": "accept" checks the shared socket, which only mode "socket" has`},
		{"bad check", base + "[ready]\ncheck = \"ping\"\n", `key "ready.check": "ping" is not one of`},
		{"bad path", base + "[ready]\npath = \"health\"\n", `key "ready.path": "health" must start with /`},
		{"bad size", base + "[log]\nmax_size = \"ten\"\n", `app.toml:5: key "log.max_size": "ten": not a size`},
		{"relative log", base + "[log]\nfile = \"app.log\"\n", `key "log.file": "app.log" must be an absolute path`},
		{"relative socket", base + "socket = \"procmon.sock\"\n", `key "socket": "procmon.sock" must be an absolute path`},
		{"env name", base + "env = { \"A=B\" = \"1\" }\n", `key "env": variable name "A=B" is not valid`},
		{"toml syntax", base + "workers = \n", `app.toml:4`},
		{"unknown user", base + "user = \"procmon-no-such-user\"\n", `app.toml:4: key "user": no user "procmon-no-such-user" on this host (hint: create it first: useradd`},
		{"unknown group", base + "group = \"procmon-no-such-group\"\n", `app.toml:4: key "group": no group "procmon-no-such-group" on this host (hint: create it first: groupadd`},
		{"bad proxy duration", base + "[proxy]\nbody_timeout = \"1 minute\"\n", `app.toml:5: key "proxy.body_timeout": "1 minute" is not a duration`},
		{"zero proxy timeout", base + "[proxy]\nsend_timeout = \"0s\"\n", `key "proxy.send_timeout": "0s" must be more than zero`},
		{"bad buffer_body", base + "[proxy]\nbuffer_body = \"lots\"\n", `app.toml:5: key "proxy.buffer_body": "lots": not a size`},
		{"tiny max_head", base + "[proxy]\nmax_head = \"100\"\n", `key "proxy.max_head": "100" is too small`},
		{"huge max_head", base + "[proxy]\nmax_head = \"2MB\"\n", `key "proxy.max_head": "2MB" is more than 1 MB`},
		{"bad trusted", base + "[proxy]\ntrusted = [\"10.0.0.0/33\"]\n", `app.toml:5: key "proxy.trusted": "10.0.0.0/33" is not an address or CIDR`},
		{"bad underscores", base + "[proxy]\nunderscores = \"keep\"\n", `key "proxy.underscores": "keep" is not one of drop, refuse`},
		{"proxy in socket mode", base + "mode = \"socket\"\n[proxy]\nmax_head = \"8KB\"\n", `key "proxy": only used in mode "proxy"`},
		{"unknown proxy key", base + "[proxy]\nclient_max_body_size = \"1m\"\n", `app.toml:5: unknown key "proxy.client_max_body_size"`},
		{"heartbeat in mode none", "dir = \"/a\"\ncommand = [\"a\"]\nmode = \"none\"\n[heartbeat]\ninterval = \"1s\"\n", `key "heartbeat.interval": mode "none" has no listen address`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("app.toml", []byte(tc.doc))
			got := ""
			if err != nil {
				got = err.Error()
				if h := hint.Of(err); h != "" {
					got += " (hint: " + h + ")"
				}
			}
			if err == nil || !strings.Contains(got, tc.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

// TestParseConfigProxy: [proxy] is optional, its defaults are nginx's,
// and each key is read.
func TestParseConfigProxy(t *testing.T) {
	base := "dir = \"/srv/app\"\ncommand = [\"app\"]\nlisten = \"127.0.0.1:8080\"\n"
	cfg, err := ParseConfig("app.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	def := proxy.Config{HeadTimeout: time.Minute, BodyTimeout: time.Minute, SendTimeout: time.Minute,
		ReadTimeout: time.Minute, IdleTimeout: 75 * time.Second, DrainTimeout: 30 * time.Second, BufferBody: 1 << 20, MaxHead: 32 << 10}
	if !reflect.DeepEqual(cfg.Proxy, def) {
		t.Fatalf("defaults %+v\nwant %+v", cfg.Proxy, def)
	}
	cfg, err = ParseConfig("app.toml", []byte(base+`[proxy]
head_timeout = "10s"
body_timeout = "20s"
send_timeout = "30s"
read_timeout = "40s"
keepalive_timeout = "5s"
drain_timeout = "2m"
buffer_body = "64KB"
max_head = "8KB"
trusted = ["10.0.0.0/8", "127.0.0.1", "::1"]
underscores = "refuse"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := proxy.Config{HeadTimeout: 10 * time.Second, BodyTimeout: 20 * time.Second, SendTimeout: 30 * time.Second,
		ReadTimeout: 40 * time.Second, IdleTimeout: 5 * time.Second, DrainTimeout: 2 * time.Minute, BufferBody: 64 << 10, MaxHead: 8 << 10,
		Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"),
			netip.MustParsePrefix("::1/128")}, RefuseUnderscores: true}
	if !reflect.DeepEqual(cfg.Proxy, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg.Proxy, want)
	}
}

// TestParseConfigUserAndGroup: user and group name accounts of this host;
// group defaults to the user's primary group.
func TestParseConfigUserAndGroup(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user to test with: %v", err)
	}
	primary, err := user.LookupGroupId(me.Gid)
	if err != nil {
		t.Skipf("the current user's primary group %s has no name: %v", me.Gid, err)
	}
	base := "dir = \"/srv/app\"\ncommand = [\"app\"]\nlisten = \"127.0.0.1:8080\"\n"
	cfg, err := ParseConfig("app.toml", []byte(base+fmt.Sprintf("user = %q\n", me.Username)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != me.Username || cfg.Group != primary.Name {
		t.Errorf("user %q group %q, want %q and its primary group %q", cfg.User, cfg.Group, me.Username, primary.Name)
	}
	cfg, err = ParseConfig("app.toml", []byte(base+fmt.Sprintf("group = %q\n", primary.Name)))
	if err != nil || cfg.User != "" || cfg.Group != primary.Name {
		t.Errorf("group alone: %+v, %v", cfg, err)
	}
	cfg, err = ParseConfig("app.toml", []byte(base))
	if err != nil || cfg.User != "" || cfg.Group != "" {
		t.Errorf("neither: user %q group %q, %v", cfg.User, cfg.Group, err)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("error %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"10MB": 10 << 20, "512KB": 512 << 10, "1GiB": 1 << 30, "4096": 4096, "7b": 7, "3m": 3 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MB", "1TB", "MB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// FuzzParseConfig: no document makes the reader panic, and an accepted
// config always satisfies what New checks.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("dir = \"/a\"\ncommand = [\"a\"]\nmode = \"none\"\n"))
	f.Add([]byte("[ready]\ntimeout = \"1s\"\n[[x]]\n"))
	seeds, _ := filepath.Glob("testdata/*.toml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.toml", data)
		if err != nil {
			return
		}
		if _, err := New(cfg, Options{}); err != nil {
			t.Fatalf("accepted config rejected by New: %v", err)
		}
	})
}
