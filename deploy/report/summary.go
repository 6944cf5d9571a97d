package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deploytool/deploy/deploy"
)

// HostSummary is one host's line of a deploy's summary, as WriteSummary
// prints it and --json encodes it.
type HostSummary struct {
	Host       string `json:"host"`
	OldRelease string `json:"old_release,omitempty"`
	OldSHA     string `json:"old_sha,omitempty"`
	NewRelease string `json:"new_release,omitempty"`
	NewSHA     string `json:"new_sha,omitempty"`
	// DurationMS is the host's remote time (0 = it never ran).
	DurationMS int64 `json:"duration_ms"`
	// Outcome is deployed, unchecked, aborted, reverted, failed, or
	// unknown (the connection was lost after the switch: see
	// OutcomeUnknownError).
	Outcome string `json:"outcome"`
	// Unchecked says why nothing checked that the new release serves
	// ("" = its gate passed, or it did not switch).
	Unchecked string `json:"unchecked,omitempty"`
	// Error is why the host failed ("" = it did not).
	Error string `json:"error,omitempty"`
	// State says which release the host was left on.
	State string `json:"state"`
	// Steps are the host's steps in the order they ran, each with its
	// wall time (from its start to the next step's).
	Steps []StepTime `json:"steps,omitempty"`
	// Built is what `build auto` detected in the new release, and how
	// each stack's dependencies got there.
	Built []BuiltStack `json:"built,omitempty"`
	// PruneFailed lists the old releases that could not be removed after
	// the switch (a warning: the deploy is not failed for it).
	PruneFailed []string `json:"prune_failed,omitempty"`
}

// StepTime is one step of a host's deploy and its wall time.
type StepTime struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"`
}

// BuiltStack is one stack build auto built (deploy.Built).
type BuiltStack struct {
	Stack string `json:"stack"`
	Why   string `json:"why,omitempty"`
	// Deps: reused, installed, uncached, pip-cache or go-cache.
	Deps string `json:"deps,omitempty"`
	// Method: reflink, link, hardlink or copy (with Deps reused or
	// installed).
	Method string `json:"method,omitempty"`
	Key    string `json:"key,omitempty"`
}

// Summary is the last object --json prints for a deploy.
type Summary struct {
	// Summary is always true: it tells this object from the events.
	Summary bool `json:"summary"`
	// OK is true when the deploy succeeded on every host.
	OK bool `json:"ok"`
	// Error is the deploy's error ("" = none).
	Error string `json:"error,omitempty"`
	// Hosts are the hosts in config order.
	Hosts []HostSummary `json:"hosts"`
}

// Summarize turns a fleet deploy's results and error into a Summary.
func Summarize(results []deploy.HostResult, err error) Summary {
	s := Summary{Summary: true, OK: err == nil, Hosts: make([]HostSummary, 0, len(results))}
	if err != nil {
		s.Error = err.Error()
	}
	for _, r := range results {
		h := HostSummary{Host: r.Host.String(), Outcome: r.Outcome, State: StateAfter(r)}
		if h.Outcome == "" {
			h.Outcome = "aborted"
		}
		if r.Result != nil {
			h.OldRelease, h.OldSHA = r.Result.OldRelease, r.Result.OldSHA
			h.NewRelease, h.NewSHA = r.Result.NewRelease, r.Result.NewSHA
			h.DurationMS = r.Result.Duration.Milliseconds()
			h.PruneFailed = r.Result.PruneFailed
			for _, st := range r.Result.Steps {
				h.Steps = append(h.Steps, StepTime{Name: st.Name, MS: float64(st.Duration.Microseconds()/100) / 10})
			}
			for _, b := range r.Result.Built {
				h.Built = append(h.Built, BuiltStack{Stack: b.Stack, Why: b.Why, Deps: b.Deps, Method: b.Method, Key: b.Key})
			}
			if r.Outcome == deploy.OutcomeUnchecked {
				h.Unchecked = r.Result.GateReason
			}
		}
		if r.Err != nil {
			h.Error = r.Err.Error()
		}
		s.Hosts = append(s.Hosts, h)
	}
	return s
}

// StateAfter says which release a host was left on after a deploy ended
// the way r says: what a person needs after an interrupt or a failure.
func StateAfter(r deploy.HostResult) string {
	res := r.Result
	if res == nil {
		return "unchanged (not reached)"
	}
	switch {
	case r.Outcome == "unknown":
		return "unknown: switched to " + res.NewRelease + ", then the connection was lost; the server decides (gate, rollback)"
	case res.Switched && !res.Reverted && r.Outcome != "reverted":
		return "on the new release " + res.NewRelease
	case res.Switched:
		return "back on " + res.OldRelease + " (reverted)"
	case res.OldRelease == "":
		// Stopped before the server said what current was (at the lock,
		// say), or nothing was ever deployed: either way it was not touched.
		return "unchanged"
	default:
		return "unchanged on " + res.OldRelease
	}
}

// WriteSummary prints the summary table: host, old → new sha, time,
// result; a failed host's result is its error's first line.
func WriteSummary(w io.Writer, s Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tOLD → NEW\tTIME\tRESULT")
	for _, h := range s.Hosts {
		took := "-"
		if h.DurationMS > 0 {
			took = (time.Duration(h.DurationMS) * time.Millisecond).Round(10 * time.Millisecond).String()
		}
		result := h.Outcome
		if h.Error != "" {
			result += ": " + firstLine(strings.TrimPrefix(h.Error, h.Host+": "))
		} else if h.Unchecked != "" {
			result += ": " + h.Unchecked
		}
		fmt.Fprintf(tw, "%s\t%s → %s\t%s\t%s\n", h.Host, deploy.ShortSHA(h.OldSHA), deploy.ShortSHA(h.NewSHA), took, result)
	}
	return tw.Flush()
}

// WriteStates prints, per host, which release it was left on (after an
// interrupt or a failed deploy).
func WriteStates(w io.Writer, s Summary) error {
	var b strings.Builder
	for _, h := range s.Hosts {
		fmt.Fprintf(&b, "  %s: %s\n", h.Host, h.State)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// firstLine is s's first line, trimmed: a table cell or a one-line result
// shows only that much of a multi-line error.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
