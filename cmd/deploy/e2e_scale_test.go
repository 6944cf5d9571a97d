package main

import (
	"strings"
	"testing"
	"time"
)

// TestScaleAcrossHosts: `deploy <env> scale N` asks each host's real
// procmon for N workers, with no reload: status then shows N ready
// workers, and the app keeps answering. A bad count is a usage error that
// dials nothing.
func TestScaleAcrossHosts(t *testing.T) {
	f, listen := newProcmonFixture(t)
	for _, n := range []string{"3", "1"} {
		r := f.mustRun("production", "scale", n)
		if !strings.Contains(r.stdout+r.stderr, n) {
			t.Errorf("scale %s printed nothing about it:\n%s%s", n, r.stdout, r.stderr)
		}
		want := n + "/" + n
		deadline := time.Now().Add(30 * time.Second)
		var table string
		for time.Now().Before(deadline) {
			if table = f.mustRun("production", "status").stdout; strings.Contains(table, want) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(table, want) {
			t.Fatalf("after scale %s status does not show %s workers ready:\n%s", n, want, table)
		}
		if got := answer(listen); got != "hello from v2" {
			t.Fatalf("after scale %s the app answers %q", n, got)
		}
	}
	for _, bad := range [][]string{{"scale"}, {"scale", "x"}, {"scale", "2", "3"}} {
		r := f.run(ctxMinute(t), append([]string{"production"}, bad...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "scale") {
			t.Errorf("deploy production %v: exit %d, want a usage error (2):\n%s", bad, r.code, r.stderr)
		}
	}
}
