package report

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/internal/golden"
)

func sampleResults() []deploy.HostResult {
	return []deploy.HostResult{
		{Host: config.Host{Name: "web1"}, Outcome: "deployed", Result: &deploy.Result{
			OldRelease: "20261124T061502Z-3f9c2ab", OldSHA: "3f9c2ab0e1d2c3b4a5968778695a4b3c2d1e0f11",
			NewRelease: "20261124T080000Z-9a8b7c6", NewSHA: "9a8b7c6d5e4f30211223344556677889900aabbc",
			Switched: true, Duration: 1234 * time.Millisecond}},
		{Host: config.Host{Name: "web2", User: "deploy", Port: 2222}, Outcome: "reverted", Err: errors.New("gate failed: health check answered 502\nmore"),
			Result: &deploy.Result{OldRelease: "20261124T061502Z-3f9c2ab", OldSHA: "3f9c2ab0e1d2c3b4a5968778695a4b3c2d1e0f11",
				NewRelease: "20261124T080001Z-9a8b7c6", NewSHA: "9a8b7c6d5e4f30211223344556677889900aabbc",
				Switched: true, Reverted: true, Duration: 2500 * time.Millisecond}},
		{Host: config.Host{Name: "web3"}, Outcome: "aborted", Result: &deploy.Result{OldSHA: "", Duration: 800 * time.Millisecond}},
		{Host: config.Host{Name: "web4"}, Outcome: "failed", Err: errors.New("dial tcp: connection refused")},
	}
}

// TestSummaryTableGolden pins the summary table and the per-host states
// printed after a failed or interrupted deploy.
func TestSummaryTableGolden(t *testing.T) {
	t.Parallel()
	s := Summarize(sampleResults(), errors.New("web2: gate failed"))
	var b strings.Builder
	if err := WriteSummary(&b, s); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--\n")
	if err := WriteStates(&b, s); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "summary", b.String())
	if s.OK || !s.Summary || s.Error == "" || len(s.Hosts) != 4 {
		t.Errorf("summary = %+v", s)
	}
}

func TestStateAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    deploy.HostResult
		want string
	}{
		{"not reached", deploy.HostResult{Outcome: "failed"}, "unchanged (not reached)"},
		{"aborted before switch", deploy.HostResult{Outcome: "aborted", Result: &deploy.Result{OldRelease: "r1"}}, "unchanged on r1"},
		{"first deploy aborted", deploy.HostResult{Outcome: "aborted", Result: &deploy.Result{}}, "unchanged"},
		{"deployed", deploy.HostResult{Outcome: "deployed", Result: &deploy.Result{OldRelease: "r1", NewRelease: "r2", Switched: true}}, "on the new release r2"},
		{"reverted by gate", deploy.HostResult{Outcome: "reverted", Result: &deploy.Result{OldRelease: "r1", NewRelease: "r2", Switched: true}}, "back on r1 (reverted)"},
		{"reverted by test hook", deploy.HostResult{Outcome: "failed", Result: &deploy.Result{OldRelease: "r1", NewRelease: "r2", Switched: true, Reverted: true}}, "back on r1 (reverted)"},
		{"kept by --no-rollback", deploy.HostResult{Outcome: "deployed", Result: &deploy.Result{OldRelease: "r1", NewRelease: "r2", Switched: true}}, "on the new release r2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StateAfter(tt.r); got != tt.want {
				t.Errorf("StateAfter = %q, want %q", got, tt.want)
			}
		})
	}
}
