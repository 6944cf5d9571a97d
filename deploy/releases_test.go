package deploy

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseLog(t *testing.T) {
	sha := strings.Repeat("a", 40)
	for _, tc := range []struct {
		name, in string
		want     []LogEntry
		err      string
	}{
		{"empty", "", nil, ""},
		{"full", sha + "\t20261124T061502Z-aaaaaaa\t2026-11-24T06:15:02Z\tdeploy\tmain\tme@laptop\n",
			[]LogEntry{{SHA: sha, Release: "20261124T061502Z-aaaaaaa", Time: time.Date(2026, 11, 24, 6, 15, 2, 0, time.UTC), Event: EventDeploy, Ref: "main", By: "me@laptop"}}, ""},
		{"failed unknown", "-\t-\t2026-11-24T06:15:02Z\tfailed\tmain\tme@laptop\n",
			[]LogEntry{{Time: time.Date(2026, 11, 24, 6, 15, 2, 0, time.UTC), Event: EventFailed, Ref: "main", By: "me@laptop"}}, ""},
		{"classic sha only", sha + "\n\n", []LogEntry{{SHA: sha, Event: EventDeploy}}, ""},
		{"bad time", sha + "\tr\tyesterday\tdeploy\tmain\tme\n", nil, "line 1: time"},
		{"bad event", "\n" + sha + "\tr\t2026-11-24T06:15:02Z\tboom\tmain\tme\n", nil, `line 2: unknown event "boom"`},
	} {
		got, err := ParseLog([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%s: %+v, %v", tc.name, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: entry %d = %+v, want %+v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseLog(f *testing.F) {
	if data, err := os.ReadFile("testdata/deploys.sample"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("x\ty\t2026-11-24T06:15:02Z\trevert\tz\tw\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseLog(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			switch e.Event {
			case EventDeploy, EventRevert, EventFailed:
			default:
				t.Fatalf("event %q accepted", e.Event)
			}
		}
	})
}
