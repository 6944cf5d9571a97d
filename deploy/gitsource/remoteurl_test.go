package gitsource

import (
	"os/exec"
	"testing"
)

func TestSameRepo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"git@github.com:acme/app.git", "https://github.com/acme/app", true},
		{"ssh://git@github.com/acme/app.git", "git@github.com:acme/app", true},
		{"https://github.com/acme/app/", "https://GitHub.com/acme/app.git", true},
		{"/srv/git/app.git", "/srv/git/app", true},
		{"/srv/git/app", "file:///srv/git/app/", true},
		{"git@github.com:acme/app.git", "git@github.com:acme/ops.git", false},
		{"git@github.com:acme/app.git", "git@gitlab.com:acme/app.git", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := SameRepo(tt.a, tt.b); got != tt.want {
			t.Errorf("SameRepo(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRemoteURLs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", dir},
		{"-C", dir, "remote", "add", "origin", "git@github.com:acme/app.git"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	urls, err := r.RemoteURLs()
	if err != nil || len(urls) != 1 || !SameRepo(urls[0], "https://github.com/acme/app") {
		t.Errorf("RemoteURLs = %v, %v; want the origin", urls, err)
	}
}
