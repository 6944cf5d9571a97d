package deploy

import (
	"strings"
	"testing"
)

// A stamp from the laptop names the release; a malformed one is refused
// before anything runs.
func TestReleaseStamp(t *testing.T) {
	o := newOrigin(t)
	sha := o.commit(nil)
	s := newServer(t, o)
	s.setup()
	opts := s.opts()
	opts.Stamp = "20260102T030405Z"
	res, err := Deploy(ctxFor(t), s.conn, s.env, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "20260102T030405Z-" + sha[:7]; res.NewRelease != want {
		t.Errorf("release %q, want %q", res.NewRelease, want)
	}
	for _, bad := range []string{"2026-01-02", "20260102T030405Z;x", "$(id)"} {
		opts.Stamp = bad
		if _, err := Deploy(ctxFor(t), s.conn, s.env, opts); err == nil || !strings.Contains(err.Error(), "stamp") {
			t.Errorf("stamp %q: err = %v, want a refusal naming the stamp", bad, err)
		}
	}
}
