package deploy

import (
	"os"
	"path/filepath"
	"testing"
)

// needs_tty gives hooks a pseudo-terminal (through util-linux script(1) on
// the server); without it their output is not a terminal. The hook
// environment and the exit status come through either way.
func TestNeedsTTY(t *testing.T) {
	for _, tty := range []bool{false, true} {
		o := newOrigin(t)
		o.commit(nil)
		s := newServer(t, o)
		s.env.NeedsTTY = tty
		s.env.PreDeploy = `if [ -t 1 ]; then echo tty > where; else echo notty > where; fi; echo "$DEPLOY_ENV" >> where`
		s.setup()
		res := s.deploy()
		b, err := os.ReadFile(filepath.Join(s.env.Path, "releases", res.NewRelease, "where"))
		if err != nil {
			t.Fatal(err)
		}
		want := "notty\nproduction\n"
		if tty {
			want = "tty\nproduction\n"
		}
		if string(b) != want {
			t.Errorf("needs_tty=%v: hook saw %q, want %q", tty, b, want)
		}
		s.env.PreDeploy = "exit 4"
		o.commit(nil)
		if _, err := Deploy(ctxFor(t), s.conn, s.env, s.opts()); err == nil {
			t.Errorf("needs_tty=%v: a hook exiting 4 did not fail the deploy", tty)
		}
	}
}
