package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSetupIsIdempotent(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.env.PostSetup = `echo "setup $DEPLOY_ENV" >> setup.log`
	s.env.Shared = []string{"log/"}
	s.setup()
	s.setup()
	for _, d := range []string{"repo/HEAD", "releases", "shared", "shared/log"} {
		if _, err := os.Stat(filepath.Join(s.env.Path, d)); err != nil {
			t.Errorf("after setup: %v", err)
		}
	}
	data, err := os.ReadFile(filepath.Join(s.env.Path, "setup.log"))
	if err != nil || string(data) != "setup production\nsetup production\n" {
		t.Errorf("post-setup log = %q, %v", data, err)
	}
	if !strings.Contains(s.out.String(), "") || s.lockLine() != "" {
		t.Errorf("lock left held: %q", s.lockLine())
	}
}

func TestDeployBeforeSetupFails(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if err == nil || !strings.Contains(err.Error(), "run 'deploy <env> setup' first") {
		t.Fatalf("err = %v, want a hint to run setup", err)
	}
}

// TestDeployAndRevert walks the classic cycle: deploys, revert 1 twice (it
// goes back two, never toggles), revert 2, and what list/curr/prev say.
func TestDeployAndRevert(t *testing.T) {
	o := newOrigin(t)
	s := newServer(t, o)
	shaA := o.commit(nil)
	s.setup()
	a := s.deploy()
	if a.NewSHA != shaA || a.OldRelease != "" || !a.Switched || s.current() != a.NewRelease {
		t.Fatalf("first deploy: %+v, current %s", a, s.current())
	}
	rev, err := os.ReadFile(filepath.Join(s.env.Path, "current", "REVISION"))
	if err != nil || strings.TrimSpace(string(rev)) != shaA {
		t.Fatalf("REVISION = %q, %v", rev, err)
	}
	if !strings.HasSuffix(a.NewRelease, "-"+shaA[:7]) {
		t.Errorf("release id %s does not end with the short sha", a.NewRelease)
	}
	var names []string
	for _, st := range a.Steps {
		names = append(names, st.Name)
	}
	if got := strings.Join(names, " "); got != "lock fetch resolve checkout switch prune" {
		t.Errorf("steps = %q", got)
	}

	ids := []string{a.NewRelease}
	for range 3 {
		o.commit(nil)
		r := s.deploy()
		if r.OldRelease != ids[len(ids)-1] {
			t.Errorf("old release = %s, want %s", r.OldRelease, ids[len(ids)-1])
		}
		ids = append(ids, r.NewRelease)
	}
	// ids: A B C D; current D.
	if r := s.revert(1); r.NewRelease != ids[2] || s.current() != ids[2] {
		t.Fatalf("revert 1: %+v, current %s, want %s", r, s.current(), ids[2])
	}
	if s.revert(1); s.current() != ids[1] {
		t.Fatalf("second revert 1: current %s, want %s (no toggling)", s.current(), ids[1])
	}
	_, err = Revert(ctxFor(t), s.conn, s.env, 2, s.opts())
	if err == nil || !strings.Contains(err.Error(), "cannot go back 2: only 1 successful deploy(s) before") {
		t.Fatalf("revert 2 from B: err = %v", err)
	}
	if s.current() != ids[1] {
		t.Fatalf("a failed revert moved current to %s", s.current())
	}
	o.commit(nil)
	e := s.deploy() // A B C D E; current E
	if r := s.revert(2); r.NewRelease != ids[2] || r.OldRelease != e.NewRelease || s.current() != ids[2] {
		t.Fatalf("revert 2: %+v, current %s, want %s", r, s.current(), ids[2])
	}

	log, err := List(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, en := range log.Entries {
		events = append(events, string(en.Event))
		if en.By != "tester@laptop" || en.Time.IsZero() || len(en.SHA) != 40 {
			t.Errorf("entry %+v", en)
		}
	}
	if got := strings.Join(events, " "); got != "deploy deploy deploy deploy revert revert deploy revert" {
		t.Errorf("events = %q", got)
	}
	if log.Current != ids[2] {
		t.Errorf("list current = %s, want %s", log.Current, ids[2])
	}
	cur, err := Current(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil || cur.ID != ids[2] || cur.Pruned {
		t.Errorf("curr = %+v, %v", cur, err)
	}
	prev, err := Previous(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil || prev.ID != ids[1] {
		t.Errorf("prev = %+v, %v; want %s", prev, err, ids[1])
	}
	st, err := Status(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil || st.Current != ids[2] || st.Behind != 2 || !st.LayoutOK || st.Lock != "free" || st.DiskFreeKB <= 0 {
		t.Errorf("status = %+v, %v", st, err)
	}
}

func TestDeployRefs(t *testing.T) {
	o := newOrigin(t)
	s := newServer(t, o)
	first := o.commit(nil)
	o.git("tag", "v1")
	o.git("checkout", "-q", "-b", "feature")
	feat := o.commit(nil)
	o.git("checkout", "-q", "main")
	head := o.commit(nil)
	s.setup()
	for _, tc := range []struct{ ref, sha string }{
		{"", head},                // unset: the origin's default branch
		{"origin/feature", feat},  // classic form: branch feature
		{"v1", first},             // a tag
		{first[:7], first},        // a short sha
		{"refs/heads/main", head}, // a full ref
	} {
		o := s.opts()
		o.Ref = tc.ref
		res, err := Deploy(ctxFor(t), s.conn, s.env, o)
		if err != nil || res.NewSHA != tc.sha {
			t.Errorf("ref %q: %+v, %v; want sha %s", tc.ref, res, err, tc.sha)
		}
	}
	o2 := s.opts()
	o2.Ref = "no-such-branch"
	_, err := Deploy(ctxFor(t), s.conn, s.env, o2)
	if err == nil || !strings.Contains(err.Error(), "resolve: ref 'no-such-branch' is not a branch, tag or commit of") {
		t.Errorf("unknown ref: err = %v", err)
	}
	if s.log()[len(s.log())-1].Event == EventFailed {
		t.Errorf("a ref refused before any release existed was logged failed")
	}
}
