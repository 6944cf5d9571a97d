package control

import (
	"context"
	"fmt"
	"time"
)

// OpScale sets the worker count: Request.Workers.
const OpScale = "scale"

// Scaler is the part of a Handler that answers OpScale; a Handler that
// does not implement it answers that scaling is not supported.
type Scaler interface {
	// Scale sets the number of workers of the serving generation without
	// a reload and returns the change once it started.
	Scale(ctx context.Context, workers int) (ScaleEvent, error)
}

// Scale is the worker count in a Status.
type Scale struct {
	// Workers is the count the serving generation keeps and the next
	// reload starts.
	Workers int `json:"workers"`
	// Source says who set it: "config", "scale" (procmon scale) or
	// "autoscale".
	Source string `json:"source"`
	// ConfigWorkers is the config's workers: the start value. A count set
	// by scale holds across reloads and restarts until it changes.
	ConfigWorkers int `json:"config_workers"`
	// Min and Max bound the count with workers = "MIN..MAX" (autoscale by
	// load); both 0 for a fixed count.
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
	// Events counts changes since procmon started.
	Events int `json:"events"`
	// Last is the latest change; nil when none since procmon started.
	Last *ScaleEvent `json:"last,omitempty"`
}

// ScaleEvent is one change of the worker count.
type ScaleEvent struct {
	At     time.Time `json:"at"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Source string    `json:"source"`
	// Reason says why: "procmon scale 4", "12 in flight per worker for 30s".
	Reason string `json:"reason"`
}

// String is the change as status prints it.
func (e ScaleEvent) String() string {
	return fmt.Sprintf("scaled %d → %d: %s", e.From, e.To, e.Reason)
}

// Scale asks the daemon to run workers workers.
func (c *Client) Scale(ctx context.Context, workers int) (ScaleEvent, error) {
	resp, err := c.do(ctx, Request{Op: OpScale, Workers: workers}, requestTimeout+clientSlack)
	if err != nil {
		return ScaleEvent{}, err
	}
	if resp.Scale == nil {
		return ScaleEvent{}, fmt.Errorf("control socket %s: answer without a scale result", c.path)
	}
	return *resp.Scale, nil
}

func (s *Server) scale(ctx context.Context, req Request) Response {
	sc, ok := s.handler.(Scaler)
	if !ok {
		return failure(fmt.Errorf("scale: not supported by this daemon"), "")
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	ev, err := sc.Scale(ctx, req.Workers)
	if err != nil {
		return failure(fmt.Errorf("scale: %w", err), "")
	}
	return Response{OK: true, Scale: &ev}
}

func renderScale(ew *errWriter, sc *Scale, now time.Time) {
	if sc == nil {
		return
	}
	ew.printf("workers:   %d", sc.Workers)
	switch {
	case sc.Max > 0:
		ew.printf(" (autoscale %d..%d; set by %s)", sc.Min, sc.Max, sc.Source)
	case sc.Source == "config":
		ew.printf(" (config)")
	default:
		ew.printf(" (set by %s; config says %d)", sc.Source, sc.ConfigWorkers)
	}
	if sc.Last != nil {
		ew.printf("; last %s", sc.Last)
		if !now.IsZero() {
			ew.printf(", %s ago", human(now.Sub(sc.Last.At)))
		}
	}
	ew.printf("\n")
}
