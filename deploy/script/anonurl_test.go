package script

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
)

// anonCases are repo values and how git's messages show them.
var anonCases = []struct{ url, want string }{
	{"https://x-access-token:SECRET@github.com/acme/app.git", "https://github.com/acme/app.git"},
	{"https://SECRET@github.com/acme/app.git", "https://github.com/acme/app.git"},
	{"HTTPS://SECRET@github.com/acme/app.git", "HTTPS://github.com/acme/app.git"},
	{"http://user:pa:ss@127.0.0.1:1/x.git", "http://127.0.0.1:1/x.git"},
	{"https://user:p@ss@host/x.git", "https://host/x.git"}, // an unencoded '@' in the password
	{"ftps://u@host/x.git", "ftps://host/x.git"},
	{"ssh://git@github.com/acme/app.git", "ssh://git@github.com/acme/app.git"}, // a login name
	{"git+ssh://deploy@host:2222/srv/app.git", "git+ssh://deploy@host:2222/srv/app.git"},
	{"ssh://deploy:SECRET@host/srv/app.git", "ssh://host/srv/app.git"},
	{"git@github.com:acme/app.git", "git@github.com:acme/app.git"},
	{"https://github.com/acme/app.git", "https://github.com/acme/app.git"},
	{"https://github.com/acme/app@v2.git", "https://github.com/acme/app@v2.git"}, // '@' past the first slash
	{"https://host/a?x=u:p@y", "https://host/a?x=u:p@y"},
	{"/srv/git/app@2.git", "/srv/git/app@2.git"},
	{"~/repos/a@b", "~/repos/a@b"},
	{"me@there", "me@there"},
	{"we!rd://u:p@h/r", "we!rd://u:p@h/r"},
	{"://u:p@h/r", "://u:p@h/r"},
	{"file:///srv/a@b.git", "file:///srv/a@b.git"},
	{"https://u:p@host", "https://host"},
}

// TestAnonymizeURL: the laptop's config.AnonymizeURL and the script's
// anon_url agree on the table, and for http(s) with the URL git itself
// prints in "unable to access '<url>/'" for a credentialed URL (a closed
// loopback port).
func TestAnonymizeURL(t *testing.T) {
	t.Parallel()
	anon := libScript[strings.Index(libScript, "\nanon_url() {"):]
	anon = anon[:strings.Index(anon, "\n}\n")+3]
	var code strings.Builder
	code.WriteString(anon)
	for _, tc := range anonCases {
		code.WriteString("anon_url v " + Quote(tc.url) + "; printf '%s\\n' \"$v\"\n")
	}
	out, err := exec.Command("bash", "-c", code.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i, tc := range anonCases {
		if got := config.AnonymizeURL(tc.url); got != tc.want {
			t.Errorf("AnonymizeURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
		if i >= len(lines) || lines[i] != tc.want {
			t.Errorf("anon_url %q = %q, want %q", tc.url, lines[min(i, len(lines)-1)], tc.want)
		}
	}
	for _, u := range []string{"https://x-access-token:SECRET@127.0.0.1:1/acme/app.git", "http://SECRET@127.0.0.1:1/x.git"} {
		cmd := exec.Command("git", "ls-remote", u)
		cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0")
		msg, _ := cmd.CombinedOutput()
		if want := "unable to access '" + config.AnonymizeURL(u) + "/'"; !strings.Contains(string(msg), want) {
			t.Errorf("git ls-remote %s says:\n%s\nwant %q", u, msg, want)
		}
	}
}
