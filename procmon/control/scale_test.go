package control

import (
	"context"
	"strings"
	"testing"
)

type scalingHandler struct {
	fakeHandler
	got int
}

func (h *scalingHandler) Scale(ctx context.Context, n int) (ScaleEvent, error) {
	h.got = n
	return ScaleEvent{From: 2, To: n, Source: "scale", Reason: "procmon scale"}, nil
}

// TestScaleOp: OpScale reaches a Handler that is a Scaler, and one that
// is not answers that scaling is not supported.
func TestScaleOp(t *testing.T) {
	h := &scalingHandler{}
	_, c := startServer(t, h)
	ev, err := c.Scale(context.Background(), 5)
	if err != nil || h.got != 5 || ev.To != 5 || ev.String() != "scaled 2 → 5: procmon scale" {
		t.Fatalf("scale 5: %+v %v (handler got %d)", ev, err, h.got)
	}
	_, c = startServer(t, &fakeHandler{})
	if _, err := c.Scale(context.Background(), 5); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("scale against a handler without Scale: %v", err)
	}
}
