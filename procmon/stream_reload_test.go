package procmon

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/procmon/control"
)

// TestReloadEndsEventStreamWithinDrainTimeout: a real event stream
// through the proxy shows in `procmon status` as long-lived on its worker
// at once (the status is not a snapshot from before the stream opened),
// and a reload ends it cleanly (a complete answer, ending between two
// events) within drain_timeout, rather than keeping the old worker until
// stop_timeout and then cutting the stream wherever it is.
func TestReloadEndsEventStreamWithinDrainTimeout(t *testing.T) {
	td := startDaemon(t, newTestApp(t, appSpec{workers: 1, extra: "stop_timeout = \"20s\"\n[proxy]\ndrain_timeout = \"1s\"\n"}))
	resp, err := http.Get(td.url("/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 16)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	st, err := td.client.Status(context.Background())
	if err != nil || len(st.Workers) != 1 || st.Workers[0].LongLived != 1 {
		t.Fatalf("status while an event stream is open: %+v, %v; want 1 worker with 1 long-lived connection", st.Workers, err)
	}
	gen := st.Workers[0].Generation
	start := time.Now()
	td.touch()
	rest, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the event stream was cut (%v) %s after the reload began, after %q", err, took, rest)
	}
	body := string(first) + string(rest)
	if !strings.HasSuffix(body, "data: two\n\n") || strings.Count(body, " one\n") != strings.Count(body, "data: two\n") {
		t.Errorf("the stream ended inside an event: %q", body)
	}
	// The new generation's start, then drain_timeout (1 s), plus the
	// grace of a worker caught mid-event: far below stop_timeout (20 s).
	if took > 8*time.Second {
		t.Errorf("the stream ended %s after the reload began, want within drain_timeout of the switch", took)
	}
	td.waitDaemonStatus(t, "the old generation gone, nothing long-lived", func(st control.Status) bool {
		return len(st.Workers) == 1 && st.Workers[0].Generation != gen && st.Workers[0].LongLived == 0
	})
}
