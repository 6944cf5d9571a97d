package remote_test

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
)

// Describe prints what the connection will use, ssh -G style; Options
// and deploy.conf values win over ssh_config, as they do when dialling.
func TestDescribe(t *testing.T) {
	home := writeConfig(t, `Host web
	HostName web.example
	User deploy
	Port 2222
	IdentityFile ~/.ssh/web
	CertificateFile ~/.ssh/web-cert.pub
	UserKnownHostsFile "~/.ssh/known hosts"
	HostKeyAlias web.alias
	ProxyJump bastion
	StrictHostKeyChecking accept-new
	ConnectTimeout 7
	ServerAliveInterval 9
Host pc
	ProxyCommand ssh -W %h:%p -l %r gw
`)
	ssh := filepath.Join(home, ".ssh")
	tests := []struct {
		name   string
		target remote.Target
		o      remote.Options
		want   []string
	}{
		{name: "from ssh_config", target: remote.Target{Host: "web"}, want: []string{
			"hostname web.example", "port 2222", "user deploy", "identityfile " + ssh + "/web",
			"certificatefile " + ssh + "/web-cert.pub", `userknownhostsfile "` + ssh + `/known hosts"`,
			"hostkeyalias web.alias", "proxyjump bastion", "stricthostkeychecking accept-new",
			"connecttimeout 7", "serveraliveinterval 9"}},
		{name: "deploy.conf and options win", target: remote.Target{Host: "web", User: "root", Port: 22, KeyFile: "/k"},
			o: remote.Options{ConnectTimeout: 3 * time.Second, KeepAliveInterval: -1, KnownHostsFiles: []string{"/kh"}}, want: []string{
				"hostname web.example", "port 22", "user root", "identityfile /k", "identityfile " + ssh + "/web",
				"certificatefile " + ssh + "/web-cert.pub", "userknownhostsfile /kh",
				"hostkeyalias web.alias", "proxyjump bastion", "stricthostkeychecking accept-new",
				"connecttimeout 3", "serveraliveinterval 0"}},
		{name: "proxycommand tokens and defaults", target: remote.Target{Host: "pc", User: "u"}, o: remote.Options{AcceptNew: true}, want: []string{
			"hostname pc", "port 22", "user u",
			"identityfile " + ssh + "/id_rsa", "identityfile " + ssh + "/id_ecdsa", "identityfile " + ssh + "/id_ecdsa_sk",
			"identityfile " + ssh + "/id_ed25519", "identityfile " + ssh + "/id_ed25519_sk", "identityfile " + ssh + "/id_xmss",
			"identityfile " + ssh + "/id_dsa", "userknownhostsfile " + ssh + "/known_hosts " + ssh + "/known_hosts2",
			"proxycommand ssh -W pc:22 -l u gw", "stricthostkeychecking accept-new", "connecttimeout 10", "serveraliveinterval 15"}},
	}
	for _, tt := range tests {
		forEachResolver(t, tt.name, func(t *testing.T, res remote.Resolver) {
			o := tt.o
			o.HomeDir, o.Resolver = home, res
			got, err := remote.Describe(tt.target, o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Describe:\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// -F: SSHConfigFile replaces ~/.ssh/config and must exist, as with ssh.
func TestSSHConfigFileIsDashF(t *testing.T) {
	home := writeConfig(t, "Host web\n\tPort 1111\n")
	other := filepath.Join(t.TempDir(), "project_ssh_config")
	forEachResolver(t, "missing", func(t *testing.T, res remote.Resolver) {
		_, err := remote.Resolve(remote.Target{Host: "web"}, remote.Options{HomeDir: home, SSHConfigFile: other, Resolver: res})
		if err == nil {
			t.Fatal("a missing -F file was accepted")
		}
		wantContains(t, "error", err.Error(), other)
	})
	writeFileT(t, other, "Host web\n\tPort 2222\n")
	forEachResolver(t, "present", func(t *testing.T, res remote.Resolver) {
		r, err := remote.Resolve(remote.Target{Host: "web"}, remote.Options{HomeDir: home, SSHConfigFile: other, Resolver: res})
		if err != nil {
			t.Fatal(err)
		}
		if r.Host.Port != 2222 {
			t.Errorf("port %d, want -F's 2222", r.Host.Port)
		}
	})
}
