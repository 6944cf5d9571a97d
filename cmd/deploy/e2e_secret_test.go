package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/freeport"
)

// TestRepoCredentialsAreNotShown: repo holds a token, as an HTTPS deploy
// from GitHub often does (https://x-access-token:TOKEN@github.com/…).
// git's own messages leave the user and password out of a URL; deploy's
// did not: the dry run printed them in its steps, arguments and command,
// check in its repo row, and a deploy in "repo changed: … now <url>"
// (after every token rotation), so they reached terminals and CI logs.
// Here the origin is a closed loopback port: the deploy fails at its
// fetch, as it would on a bad token, and says so. The dry run also shows
// env values whose names look secret (SECRET_KEY_BASE, STRIPE_API_KEY)
// as <hidden>, and the others as they are.
func TestRepoCredentialsAreNotShown(t *testing.T) {
	f := newFixture(t)
	f.origin.commit()
	f.writeINI()
	f.mustRun("production", "setup")
	f.mustRun("production")
	before := f.current()

	closed := freeport.Addr(t)
	url := "https://x-access-token:SECRET-TOKEN@" + closed + "/acme/app.git"
	conf, err := os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.conf, strings.Replace(string(conf), "repo "+f.origin.dir+"\n", "repo "+url+"\n", 1)+
		"env DATABASE_URL=postgres://app:SECRET-TOKEN@db.internal/app\nenv SECRET_KEY_BASE=SECRET-TOKEN-base\nenv STRIPE_API_KEY=sk_live_SECRET-TOKEN\nenv NODE_ENV=production\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"production", "--dry-run"},
		{"production", "check"},
		{"production"},
		{"production", "status"},
	} {
		r := f.run(ctx, args...)
		out := r.stdout + r.stderr
		if strings.Contains(out, "SECRET-TOKEN") || strings.Contains(out, "x-access-token") {
			t.Errorf("deploy %s shows repo's credentials:\n%s", strings.Join(args, " "), out)
		}
		switch args[len(args)-1] {
		case "--dry-run":
			if !strings.Contains(out, "git fetch https://"+closed+"/acme/app.git into") || !strings.Contains(out, "'repo=https://"+closed+"/acme/app.git'") ||
				!strings.Contains(out, "'var=DATABASE_URL=postgres://db.internal/app'") || !strings.Contains(out, "the user and password in URLs (repo, env values) are left out above") ||
				!strings.Contains(out, "'var=SECRET_KEY_BASE=<hidden>'") || !strings.Contains(out, "'var=STRIPE_API_KEY=<hidden>'") ||
				!strings.Contains(out, "'var=NODE_ENV=production'") || !strings.Contains(out, "names look secret") {
				t.Errorf("the dry run does not show repo without its credentials, or does not say so:\n%s", out)
			}
		case "production":
			if r.code == 0 || !strings.Contains(out, "repo changed: the mirror's origin was "+f.origin.dir+", now https://"+closed+"/acme/app.git") ||
				!strings.Contains(out, "unable to access 'https://"+closed+"/acme/app.git/'") {
				t.Errorf("the deploy from an unreachable origin: exit %d, want it to fail saying where it fetched from (without credentials):\n%s", r.code, out)
			}
		}
	}
	if f.current() != before {
		t.Errorf("current %s, want %s unchanged", f.current(), before)
	}
}
