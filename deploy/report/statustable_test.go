package report

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/internal/golden"
)

const sampleAppJSON = `{"app":"vmblog","pid":41,"state":"ready","generation":3,"reloads":2,
"workers":[{"id":"1","generation":3,"pid":100,"state":"ready","restarts":0,"uptime_s":12.5,"rss_bytes":1024,"cpu_percent":1.5},
{"id":"2","generation":3,"pid":0,"state":"backoff","restarts":4}],
"heartbeat":{"enabled":true,"last_check":"2026-11-24T07:59:50Z","last_ok":true,"consecutive_failures":0},
"metrics":{"time":"2026-11-24T08:00:00Z","host_cpu_percent":12.4,"memory_percent":41,"disk_percent":83.2,"threshold_percent":80,"degraded":true,"reasons":["disk 83% >= 80%"]},
"unknown_future_field":{"x":1}}`

func TestDecodeAppStatus(t *testing.T) {
	t.Parallel()
	a, err := deploy.DecodeAppStatus([]byte(sampleAppJSON))
	if err != nil {
		t.Fatal(err)
	}
	deg, reasons := a.Degraded()
	if a.App != "vmblog" || a.State != "ready" || a.Ready() != 1 || len(a.Workers) != 2 || !deg || reasons[0] != "disk 83% >= 80%" {
		t.Errorf("decoded %+v (ready %d, degraded %v %v)", a, a.Ready(), deg, reasons)
	}
	for _, bad := range []string{"", "not json", `{"app":"x"}`, `error: procmon is not running`} {
		if _, err := deploy.DecodeAppStatus([]byte(bad)); err == nil || !strings.Contains(err.Error(), "procmon") {
			t.Errorf("DecodeAppStatus(%q) err = %v, want one naming procmon", bad, err)
		}
	}
}

// TestStatusTableGolden pins the status table: a healthy degraded host
// serving current, a crash-looping one, procmon missing, procmon down,
// procmon refusing the login user, an unreachable host, a host never set
// up, procmon serving another release than current, and serving nothing
// (procmon just started: its heartbeat has not checked yet).
func TestStatusTableGolden(t *testing.T) {
	t.Parallel()
	app, err := deploy.DecodeAppStatus([]byte(sampleAppJSON))
	if err != nil {
		t.Fatal(err)
	}
	ok := &deploy.HostStatus{Current: "20261124T080000Z-9a8b7c6", SHA: "9a8b7c6d5e4f", LayoutOK: true, Lock: "free", DiskFreeKB: 5 << 20}
	serving := *app
	serving.Dir = "/srv/app/releases/" + ok.Current
	failing := *app
	failing.Metrics = nil
	failing.State = "crash-loop"
	failing.Heartbeat = deploy.AppHeartbeat{Enabled: true, LastCheck: time.Date(2026, 11, 24, 7, 59, 50, 0, time.UTC), Failures: 3}
	older := serving
	older.Dir = "/srv/app/releases/20261120T080000Z-abc1234"
	nothing := serving
	nothing.State, nothing.Workers = "starting", []deploy.AppWorker{{ID: "w1", Generation: 3, State: "starting"}}
	nothing.Heartbeat.LastCheck = time.Time{} // procmon just started: no check yet, not "failing (0)"
	denied := &deploy.ProcmonPermissionError{Msg: "status vmblog: permission denied on /run/procmon/vmblog.sock", HintMsg: "add deploy to group vmblog (usermod -aG vmblog deploy, then log in again) or set group in the procmon config"}
	rows := []StatusRow{
		NewStatusRow("production", "web1", ok, nil, &serving, nil),
		NewStatusRow("production", "web2", &deploy.HostStatus{Current: "20261123T080000Z-1111111", SHA: "1111111aaaa", Behind: 2, LayoutOK: true, DiskFreeKB: 350 << 10,
			Lock: "alice@laptop (pid 7, deploy) since 2026-11-24T08:00:00Z"}, nil, &failing, nil),
		NewStatusRow("production", "web3", ok, nil, nil, deploy.ErrProcmonMissing),
		NewStatusRow("production", "web4", ok, nil, nil, &deploy.ProcmonDownError{Msg: "cannot reach /run/procmon/vmblog.sock"}),
		NewStatusRow("production", "web5", nil, errors.New("dial tcp 10.0.0.5:22: connection refused\nmore"), nil, nil),
		NewStatusRow("production", "web6", &deploy.HostStatus{Lock: "free"}, nil, nil, nil),
		NewStatusRow("production", "web7", ok, nil, nil, denied),
		NewStatusRow("production", "web8", ok, nil, &older, nil),
		NewStatusRow("production", "web9", ok, nil, &nothing, nil),
		// a deploy cut off between its switch and its log line: procmon
		// still serves the release before it
		NewStatusRow("production", "web10", &deploy.HostStatus{Current: "20261124T090000Z-2222222", SHA: "2222222bbbb", LayoutOK: true, Lock: "free", DiskFreeKB: 5 << 20, Unlogged: true},
			nil, &serving, nil),
		// a 300-character reason (a login shell's error) is cut in its
		// cell, so the column stays narrow; Problem has it whole
		NewStatusRow("production", "web11", nil, errors.New(longReason), nil, nil),
	}
	var b strings.Builder
	if err := WriteStatusTable(&b, rows, true); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--\n")
	if err := WriteStatusTable(&b, rows[:1], false); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "status_table", b.String())
	if rows[6].AppErr != "permission denied on /run/procmon/vmblog.sock" || !strings.Contains(rows[6].AppHint, "usermod -aG vmblog deploy") {
		t.Errorf("permission row: error %q hint %q", rows[6].AppErr, rows[6].AppHint)
	}
	for i, want := range []string{"", "", "procmon's state could not be read: procmon not installed", "procmon not running",
		"could not be read", "", "permission denied on /run/procmon/vmblog.sock",
		"current 20261124T080000Z-9a8b7c6, procmon serves 20261120T080000Z-abc1234: run 'deploy production revert' or reload procmon",
		"procmon serves nothing (503)",
		"current 20261124T090000Z-2222222 is no deploy that .deploys records: a deploy was cut off between its switch and its log line (its script killed, or the power lost) and may not have restarted the app; run 'deploy production revert' to go back to the last deploy, or deploy again",
		"could not be read: " + longReason} {
		if got := rows[i].Problem(); (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: Problem() = %q, want %q", rows[i].Host, got, want)
		}
	}
}

const longReason = `run on deploy@web11:22: the server's login shell did not start deploy's script (it exited 0, saying "fish: ${ is not a valid variable in fish."): the login shell is fish, which reads no POSIX shell: every command of deploy's is POSIX shell text`

func TestSameCurrent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rows   []CheckRow
		ok     bool
		detail string
	}{
		{"same", []CheckRow{{Host: "a", Current: "r1"}, {Host: "b", Current: "r1"}}, true, "all hosts on r1"},
		{"none deployed", []CheckRow{{Host: "a"}, {Host: "b"}}, true, "all hosts on nothing deployed"},
		{"differ", []CheckRow{{Host: "a", Current: "r1"}, {Host: "b", Current: "r2"}, {Host: "c", Current: "r1"}}, false, "a,c on r1; b on r2"},
		{"unreachable", []CheckRow{{Host: "a", Current: "r1"}, {Host: "b", Err: "refused"}}, false, "b could not be checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SameCurrent(tt.rows)
			if got.OK != tt.ok || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("SameCurrent = %+v, want ok %v detail ~ %q", got, tt.ok, tt.detail)
			}
		})
	}
}

func TestCheckTableGolden(t *testing.T) {
	t.Parallel()
	rows := []CheckRow{
		{Host: "web1", Current: "r1", Items: []deploy.CheckItem{
			{Name: "layout", OK: true, Detail: "/srv/app"},
			{Name: "lock", OK: true, Detail: "free"},
			{Name: "hook:npm", Detail: "'npm' is not in the hook shell's PATH (shell=bash): install it or set shell login"},
		}},
		{Host: "web2", Current: "r2", Items: []deploy.CheckItem{{Name: "layout", OK: true, Detail: "/srv/app"}}},
		{Host: "web3", Err: "host key of web3 is unknown\nhint"},
	}
	var b strings.Builder
	n, err := WriteCheckTable(&b, rows)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // hook:npm, web3 ssh, same-current
		t.Errorf("failed = %d, want 3", n)
	}
	var pass strings.Builder
	if n, _ := WriteCheckTable(&pass, rows[1:2]); n != 0 || !strings.Contains(pass.String(), "all checks passed") {
		t.Errorf("one passing host: failed %d, output\n%s", n, pass.String())
	}
	golden.Assert(t, "check_table", b.String())
}

// TestServingWhileProcmonWaits: procmon started before the first deploy
// reports state waiting and no dir: the SERVES column says nothing is
// served, and the problem says what starts it; with a current there, the
// first deploy came and did not start (its reload failed), and the problem
// says that instead of asking for a first deploy.
func TestServingWhileProcmonWaits(t *testing.T) {
	t.Parallel()
	app, err := deploy.DecodeAppStatus([]byte(`{"app":"vmblog","pid":41,"state":"waiting","generation":0,"reloads":0,"workers":[],"heartbeat":{"enabled":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	row := NewStatusRow("production", "web1", &deploy.HostStatus{LayoutOK: true, Lock: "free"}, nil, app, nil)
	if got := servingCell(row.Serving); got != "NOTHING (503)" {
		t.Errorf("SERVES %q, want NOTHING (503)", got)
	}
	if got := row.Problem(); !strings.Contains(got, "waits for the first deploy") || !strings.Contains(got, "'deploy production'") {
		t.Errorf("Problem() = %q", got)
	}
	row = NewStatusRow("production", "web1", &deploy.HostStatus{Current: "20261124T080000Z-9a8b7c6", LayoutOK: true, Lock: "free"}, nil, app, nil)
	if got := row.Problem(); strings.Contains(got, "waits for the first deploy") || !strings.Contains(got, "current 20261124T080000Z-9a8b7c6 did not (its reload failed or never came)") ||
		!strings.Contains(got, "'deploy production logs'") {
		t.Errorf("Problem() after a first deploy that did not start = %q", got)
	}
}
