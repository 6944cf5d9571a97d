package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestParseINIErrors checks the exact message for each bad INI input; the
// input is the minimal env (lines 1-4) followed by the extra lines.
func TestParseINIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, extra, want string
	}{
		{"unknown key", "colour red\n", `deploy.conf:5: colour: unknown key; known keys are host hosts user port key ssh-config forward-agent connect-timeout repo source path ref shell needs_tty env shared shared-files post-setup build build-command artifact pre-deploy release-command post-deploy test restart-file procmon healthcheck keep parallel batch`},
		{"near miss", "needs-tty yes\n", `deploy.conf:5: needs-tty: unknown key; did you mean "needs_tty"?`},
		{"typo", "forwrd-agent yes\n", `deploy.conf:5: forwrd-agent: unknown key; did you mean "forward-agent"?`},
		{"repeated", "user a\nuser b\n", `deploy.conf:6: user: already set at line 5; give it once`},
		{"no value", "user\n", `deploy.conf:5: user: has no value; write it like: user deploy`},
		{"host and hosts", "hosts web2\n", `deploy.conf:5: hosts: host is already set at line 2; use either host (one) or hosts (several)`},
		{"bad bool", "forward-agent maybe\n", `deploy.conf:5: forward-agent: "maybe" is not a boolean; write yes or no`},
		{"bad port", "port 70000\n", `deploy.conf:5: port: "70000" is not a port; give a number from 1 to 65535`},
		{"port word", "port ssh\n", `deploy.conf:5: port: "ssh" is not a port; give a number from 1 to 65535`},
		{"bad number", "keep five\n", `deploy.conf:5: keep: "five" is not a number; give the number of releases to keep`},
		{"zero", "batch 0\n", `deploy.conf:5: batch: 0 is out of range; give from 1 to 10000 hosts per batch (leave the key out for the default)`},
		{"bad duration", "connect-timeout 10\n", `deploy.conf:5: connect-timeout: "10" is not a duration; write it like 10s, 1m30s or 500ms`},
		{"negative duration", "connect-timeout -1s\n", `deploy.conf:5: connect-timeout: "-1s" must be positive; write it like 10s`},
		{"bad shell", "shell zsh\n", `deploy.conf:5: shell: "zsh" is not a hook shell; write bash (bash -c) or login (bash -lc, loads the profile)`},
		{"bad healthcheck", "healthcheck healthz\n", `deploy.conf:5: healthcheck: "healthz" is neither a path nor an http URL; write /healthz or http://127.0.0.1:3000/healthz`},
		{"env without =", "env NODE_ENV\n", `deploy.conf:5: env: "NODE_ENV" has no '='; write it like: env NODE_ENV=production`},
		{"env bad name", "env 1X=2\n", `deploy.conf:5: env: "1X" is not a variable name; use letters, digits and _ (not first), like NODE_ENV`},
		{"env hostile name", "env $(touch /tmp/x)=1\n", `deploy.conf:5: env: "$(touch /tmp/x)" is not a variable name; use letters, digits and _ (not first), like NODE_ENV`},
		{"env cache method", "env DEPLOY_CACHE_METHOD=symlink\n", `deploy.conf:5: env: DEPLOY_CACHE_METHOD="symlink": use reflink, link, hardlink or copy (or leave it out: the server picks the cheapest safe one)`},
		{"env reserved", "env DEPLOY_PATH=/x\n", `deploy.conf:5: env: DEPLOY_PATH: names starting with DEPLOY_ are set by deploy itself (DEPLOY_PROCMON, DEPLOY_HEALTH_TIMEOUT, DEPLOY_NO_CURL and DEPLOY_CACHE_METHOD are the settings you may give); choose another name`},
		{"env twice", "env A=1\nenv A=2\n", `deploy.conf:6: env: A is set twice; give each variable once`},
		{"shared absolute", "shared /etc\n", `deploy.conf:5: shared: "/etc" is absolute; give a path relative to the release, like log or .env`},
		{"shared escapes", "shared log ../x\n", `deploy.conf:5: shared: "../x" is not inside the release; give a path like log or config/master.key`},
		{"shared twice", "shared log\nshared log/\n", `deploy.conf:6: shared: "log/" is listed twice; give each path once`},
		{"NUL", "pre-deploy make\x00 all\n", `deploy.conf:5: pre-deploy: contains a NUL byte`},
		{"CR inside", "pre-deploy make\r all\n", `deploy.conf:5: pre-deploy: contains a carriage return; values are one line`},
		{"escape char", "test a\x1bb\n", `deploy.conf:5: test: contains the control character U+001B`},
		{"invalid utf8", "test \xff\n", `deploy.conf:5: not valid UTF-8; save the file as UTF-8`},
		{"ref with space", "ref main extra\n", `deploy.conf:5: ref: "main extra" contains whitespace; give a branch, tag or sha`},
		{"ref option", "ref --upload-pack=touch\n", `deploy.conf:5: ref: "--upload-pack=touch" starts with '-'; give a branch, tag or sha`},
		{"ref git refuses", "ref feature..x\n", `deploy.conf:5: ref: "feature..x" contains '..': give a branch, tag or commit sha`},
		{"restart-file escapes", "restart-file ../../etc/passwd\n", `deploy.conf:5: restart-file: "../../etc/passwd" has an empty, '.' or '..' component: give a plain relative path inside the release`},
		{"restart-file absolute", "restart-file /etc/passwd\n", `deploy.conf:5: restart-file: "/etc/passwd" is absolute: give it relative to the release`},
		{"procmon relative", "procmon app.toml\n", `deploy.conf:5: procmon: "app.toml" is not absolute; give the full path on the server, like /etc/procmon/app.toml`},
		{"procmon not clean", "procmon /etc/procmon/../app.toml\n", `deploy.conf:5: procmon: "/etc/procmon/../app.toml" is not clean; write it as "/etc/app.toml"`},
		{"healthcheck path without procmon", "healthcheck /healthz\n", `deploy.conf:5: healthcheck: "/healthz" is a path, which is tried on procmon's listen address, but [prod] has no procmon key; set procmon, or give a URL like http://127.0.0.1:3000/healthz`},
		{"key ~user", "key ~bob/key\n", `deploy.conf:5: key: "~bob/key": ~user is not supported; give the full path`},
		{"hostile key name", "a\x1b[2J b\n", `deploy.conf:5: "a\x1b[2J": unknown key; known keys are host hosts user port key ssh-config forward-agent connect-timeout repo source path ref shell needs_tty env shared shared-files post-setup build build-command artifact pre-deploy release-command post-deploy test restart-file procmon healthcheck keep parallel batch`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParseError(t, ParseINI, baseINI+tt.extra, tt.want)
		})
	}
}

// TestParseINIStructureErrors checks errors about the file as a whole.
func TestParseINIStructureErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"empty", "# nothing\n", `deploy.conf: no environment; add a section like [production] with host, repo and path`},
		{"key before section", "user x\n[prod]\n", `deploy.conf:1: user: outside any section; put it under an [env] header like [production]`},
		{"bad header", "[prod] # main\n", `deploy.conf:1: bad section header "[prod] # main"; write it like [production] alone on its line`},
		{"bad env name", "[my env]\n", `deploy.conf:1: bad environment name "my env"; use letters, digits, '.', '_' and '-', like production`},
		{"duplicate env", baseINI + "[prod]\n", `deploy.conf:5: environment "prod" is defined twice; merge the two sections`},
		{"missing host", "[prod]\nrepo r\npath /p\n", `deploy.conf:1: host: missing in [prod]; add a line like: host example.com (or hosts a b for several)`},
		{"missing repo", "\n[prod]\nhost h\npath /p\n", `deploy.conf:2: repo: missing in [prod]; add a line like: repo git@github.com:me/app.git (or ship from the laptop: source push, or build local)`},
		{"missing path", "[prod]\nhost h\nrepo r\n[b]\n", `deploy.conf:1: path: missing in [prod]; add a line like: path /var/www/app`},
		{"relative path", "[prod]\npath www/app\n", `deploy.conf:2: path: "www/app" is not absolute; give the full path on the server, like /var/www/app (or ~/app)`},
		{"root path", "[prod]\npath /./\n", `deploy.conf:2: path: "/./" is the root directory; give the app's own directory, like /var/www/app`},
		{"two hosts in host", "[prod]\nhost a b\n", `deploy.conf:2: host: "a b" is several words; host takes one host, use hosts for several`},
		{"hosts then host", "[prod]\nhosts a b\nhost c\n", `deploy.conf:3: host: hosts is already set at line 2; use either host (one) or hosts (several)`},
		{"host bad port", "[prod]\nhosts a web:0\n", `deploy.conf:2: hosts: "web:0": "0" is not a port; give a number from 1 to 65535`},
		{"host ipv6 no bracket close", "[prod]\nhosts [::1:22\n", `deploy.conf:2: hosts: "[::1:22" has no closing ']'; write [::1]:2222`},
		{"host not ip in brackets", "[prod]\nhosts [web]:22\n", `deploy.conf:2: hosts: "[web]:22": "web" in brackets is not an IP address`},
		{"host option", "[prod]\nhost -oProxyCommand=x\n", `deploy.conf:2: host: "-oProxyCommand=x" starts with '-'; give a host name`},
		{"host bad user", "[prod]\nhost @web\n", `deploy.conf:2: host: "@web" has a bad user before '@'; write user@host`},
		{"host twice", "[prod]\nhosts web deploy@web web\n", `deploy.conf:2: hosts: "web" is listed twice; give each host once`},
		{"repo option", "[prod]\nrepo --upload-pack=touch\n", `deploy.conf:2: repo: "--upload-pack=touch" starts with '-' and could be read as an option; fix the value`},
		{"user with at", "[prod]\nuser a@b\n", `deploy.conf:2: user: "a@b" is not a user name; it cannot contain '@', ':' or '/'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParseError(t, ParseINI, tt.text, tt.want)
		})
	}
}

// TestParseTOMLErrors checks the exact message for each bad TOML input.
func TestParseTOMLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"unknown key", baseTOML + "colour = \"red\"\n", `deploy.conf:5: colour: unknown key; known keys are host hosts user port key ssh-config forward-agent connect-timeout repo source path ref shell needs_tty env shared shared-files post-setup build build-command artifact pre-deploy release-command post-deploy test restart-file procmon healthcheck keep parallel batch`},
		{"near miss", baseTOML + "forward_agent = true\n", `deploy.conf:5: forward_agent: unknown key; did you mean "forward-agent"?`},
		{"wrong type int", baseTOML + "port = \"22\"\n", `deploy.conf:5: port: wrong type; want an integer, like port = 22`},
		{"wrong type bool", baseTOML + "forward-agent = \"yes\"\n", `deploy.conf:5: forward-agent: wrong type; want a boolean (true or false), like forward-agent = true`},
		{"wrong type list", baseTOML + "\nshared = \"log\"\n", `deploy.conf:6: shared: wrong type; want a list of strings, like shared = [".env", "log"]`},
		{"wrong type table", baseTOML + "env = [\"A=1\"]\n", `deploy.conf:5: env: wrong type; want a table of strings, like env = { NODE_ENV = "production" }`},
		{"wrong type string", baseTOML + "user = 7\n", `deploy.conf:5: user: wrong type; want a string, like user = "deploy"`},
		{"env value not string", baseTOML + "env = { A = 1 }\n", `deploy.conf:5: env: wrong type; want a table of strings, like env = { NODE_ENV = "production" }`},
		{"syntax", baseTOML + "user = \n", `deploy.conf:5: invalid TOML: unexpected character U+000A at start of value`},
		{"duplicate key", baseTOML + "path = \"/x\"\n", `deploy.conf:5: invalid TOML: key path is already defined`},
		{"top-level key", "user = \"x\"\n" + baseTOML, `deploy.conf:1: user: is outside any environment; put it under a table like [production]`},
		{"host and hosts", baseTOML + "hosts = [\"b\"]\n", `deploy.conf:5: hosts: host is already set at line 2; use either host (one) or hosts (several)`},
		{"hosts and host", "[prod]\nhosts = [\"b\"]\n" + baseTOML[7:], `deploy.conf:3: host: hosts is already set at line 2; use either host (one) or hosts (several)`},
		{"empty hosts", "[prod]\nhosts = []\n", `deploy.conf:2: hosts: is empty; list at least one value`},
		{"host with space", "[prod]\nhosts = [\"a b\"]\n", `deploy.conf:2: hosts: "a b" is not one host; give each host as its own string, without spaces`},
		{"newline escape", baseTOML + "pre-deploy = \"make\\nrm -rf /\"\n", `deploy.conf:5: pre-deploy: contains a newline; values are one line`},
		{"multi-line string", baseTOML + "test = \"\"\"\na\nb\"\"\"\n", `deploy.conf:5: test: contains a newline; values are one line`},
		{"env name", baseTOML + "env = { \"A=B\" = \"x\" }\n", `deploy.conf:5: env: "A=B" is not a variable name; use letters, digits and _ (not first), like NODE_ENV`},
		{"bad port", baseTOML + "port = 0\n", `deploy.conf:5: port: "0" is not a port; give a number from 1 to 65535`},
		{"relative path", "[prod]\npath = \"app\"\n", `deploy.conf:2: path: "app" is not absolute; give the full path on the server, like /var/www/app (or ~/app)`},
		{"missing repo", "[prod]\nhost = \"h\"\npath = \"/p\"\n", `deploy.conf:1: repo: missing in [prod]; add a line like: repo git@github.com:me/app.git (or ship from the laptop: source push, or build local)`},
		{"array table", "[[prod]]\nhost = \"h\"\n", `deploy.conf:1: prod: [[prod]] is an array of tables; write [prod]`},
		{"empty", "# nothing\n", `deploy.conf: no environment; add a table like [production] with host, repo and path`},
		{"env value padded", baseTOML + "env = { A = \"x \" }\n", `deploy.conf:5: env: A: "x " ends in whitespace, which the INI form cannot hold; remove it`},
		{"padded value", baseTOML + "user = \" deploy\"\n", `deploy.conf:5: user: " deploy" has leading or trailing whitespace; remove it`},
		{"bad env name", "[\"my env\"]\nhost = \"h\"\n", `deploy.conf:1: bad environment name "my env"; use letters, digits, '.', '_' and '-', like production`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParseError(t, ParseTOML, tt.text, tt.want)
		})
	}
}

func checkParseError(t *testing.T, parse func(string, []byte) (*Config, error), text, want string) {
	t.Helper()
	cfg, err := parse("deploy.conf", []byte(text))
	if err == nil {
		t.Fatalf("no error; got %+v", cfg.Envs)
	}
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Errorf("error %T is not a *Error", err)
	}
	if strings.ContainsAny(err.Error(), "\n\x00") {
		t.Errorf("error message spans lines: %q", err)
	}
}

// TestSameErrorsBothForms gives each bad value in both forms and expects
// the same message, but for the line.
func TestSameErrorsBothForms(t *testing.T) {
	t.Setenv(SSHHomeEnv, t.TempDir())
	bad := []struct{ key, value string }{
		{"path", "www"}, {"path", "/"}, {"ref", "-x"}, {"ref", "a b"}, {"shell", "zsh"},
		{"healthcheck", "x"}, {"restart-file", "-x"}, {"repo", "a b"}, {"user", "a@b"},
		{"key", "~bob/x"}, {"hosts", "-o"}, {"connect-timeout", "5"}, {"procmon", "--help"},
		{"test", "a\x7fb"}, {"env", "1X=1"}, {"env", "DEPLOY_SHA=1"}, {"shared", "../up"},
	}
	for _, b := range bad {
		t.Run(b.key+"="+b.value, func(t *testing.T) {
			var tomlValue string
			switch b.key {
			case "hosts", "shared":
				tomlValue = "[" + strconv.Quote(b.value) + "]"
			case "env":
				name, value, _ := strings.Cut(b.value, "=")
				tomlValue = "{ " + strconv.Quote(name) + " = " + strconv.Quote(value) + " }"
			default:
				tomlValue = strconv.Quote(b.value)
			}
			head := "[prod]\nhost_or_hosts\nrepo = \"r\"\npath = \"/p\"\n"
			if b.key == "hosts" {
				head = strings.Replace(head, "host_or_hosts", "", 1)
			} else {
				head = strings.Replace(head, "host_or_hosts", "host = \"h\"", 1)
			}
			head = strings.Replace(head, b.key+" = ", "# "+b.key+" = ", 1)
			_, tomlErr := ParseTOML("deploy.conf", []byte(head+b.key+" = "+tomlValue+"\n"))
			iniHead := strings.NewReplacer(" = ", " ", "\"", "").Replace(head)
			_, iniErr := ParseINI("deploy.conf", []byte(iniHead+b.key+" "+b.value+"\n"))
			if tomlErr == nil || iniErr == nil {
				t.Fatalf("TOML error %v, INI error %v; want both", tomlErr, iniErr)
			}
			if tomlErr.Error() != iniErr.Error() {
				t.Errorf("TOML: %s\n INI: %s", tomlErr, iniErr)
			}
		})
	}
}

// The DEPLOY_ settings the remote script reads may be given in env.
func TestEnvAcceptsDeploySettings(t *testing.T) {
	t.Parallel()
	text := "[production]\nhost h\nrepo r\npath /srv/app\nenv DEPLOY_PROCMON=/usr/local/bin/procmon\nenv DEPLOY_HEALTH_TIMEOUT=120\n"
	cfg, err := ParseINI("deploy.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Envs["production"].Vars; v["DEPLOY_PROCMON"] != "/usr/local/bin/procmon" || v["DEPLOY_HEALTH_TIMEOUT"] != "120" {
		t.Errorf("Vars = %v", v)
	}
}
