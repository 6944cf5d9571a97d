package procmon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestConnWatchCountsThePortsConnections: the listener and other ports
// are left out; established and queued connections are open; a
// connection counts once as new, however many samples see it, and one in
// TIME_WAIT counts as new but not open.
func TestConnWatchCountsThePortsConnections(t *testing.T) {
	dir := t.TempDir()
	tcp, tcp6 := filepath.Join(dir, "tcp"), filepath.Join(dir, "tcp6")
	const head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	write := func(path string, lines ...string) {
		t.Helper()
		text := head
		for _, l := range lines {
			text += l + "\n"
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const (
		listener = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0"
		est      = "   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 0 10 -1"
		queued   = "   2: 0100007F:1F90 0100007F:D432 03 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 0 10 -1"
		other    = "   3: 0100007F:1F91 0100007F:D433 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 0 10 -1"
		client   = "   4: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 20 4 0 10 -1"
		timeWait = "   5: 0100007F:1F90 0100007F:D434 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000"
		v6       = "   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D435 01 00000000:00000000 00:00000000 00000000  1000        0 2001 1 0000000000000000 20 4 0 10 -1"
	)
	c := newConnWatch(0x1F90)
	c.files = []string{tcp, tcp6, filepath.Join(dir, "absent")}
	steps := []struct {
		v4, v6       []string
		open, events int
	}{
		{[]string{listener}, nil, 0, 0},
		{[]string{listener, est, queued, other, client}, []string{v6}, 3, 3},
		{[]string{listener, est, queued, other, client}, []string{v6}, 3, 3}, // the same ones: nothing new
		{[]string{listener, timeWait}, nil, 0, 4},                            // the others closed; one in TIME_WAIT is new
		{[]string{listener, timeWait}, nil, 0, 4},
		{[]string{listener}, nil, 0, 4},
	}
	for i, st := range steps {
		write(tcp, st.v4...)
		write(tcp6, st.v6...)
		open, err := c.sample()
		if err != nil || open != st.open || c.events != uint64(st.events) {
			t.Fatalf("step %d: open %d, events %d, err %v; want %d, %d", i, open, c.events, err, st.open, st.events)
		}
	}
	c.files = []string{filepath.Join(dir, "absent")}
	if _, err := c.sample(); err == nil {
		t.Fatal("no table at all: no error")
	}
}
