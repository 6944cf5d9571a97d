package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/internal/hint"
)

// StatusRow is one host's line of `deploy <env> status`.
type StatusRow struct {
	// Host is the host as written in the config.
	Host string
	// Deploy is the release and lock state (nil when Err is set).
	Deploy *deploy.HostStatus
	// Err is why the host could not be read ("" = it was).
	Err string
	// App is procmon's view (nil without the procmon key, or when AppErr).
	App *deploy.AppStatus
	// AppErr says why there is no App when the env has a procmon key;
	// AppHint, when set, what to do about it.
	AppErr, AppHint string
	// Serving compares the release procmon serves with current (nil when
	// there is nothing to compare); its Problem is set when they differ
	// or procmon serves nothing.
	Serving *deploy.Serving
	// Unlogged says what to do when .deploys records current as no
	// deploy (HostStatus.Unlogged; "" when it does).
	Unlogged string
}

// NewStatusRow builds a host's row of env from what Status and
// AppStatusOf gave.
func NewStatusRow(env, host string, st *deploy.HostStatus, err error, app *deploy.AppStatus, appErr error) StatusRow {
	r := StatusRow{Host: host, Deploy: st, App: app, Serving: deploy.ServingOf(env, st, app)}
	if err != nil {
		r.Err = err.Error()
	}
	if st != nil && st.Unlogged {
		r.Unlogged = fmt.Sprintf("current %s is no deploy that .deploys records: a deploy was cut off between its switch and its log line (its script killed, or the power lost) and may not have restarted the app; run 'deploy %s revert' to go back to the last deploy, or deploy again", st.Current, env)
	}
	switch {
	case errors.Is(appErr, deploy.ErrProcmonMissing):
		r.AppErr = "procmon not installed"
	case appErr != nil:
		r.AppErr, r.AppHint = appErr.Error(), hint.Of(appErr)
	}
	return r
}

// Problem says what is wrong on the host beyond what the row shows: the
// host or procmon's state could not be read, or procmon does not serve
// current. "" when nothing is.
func (r StatusRow) Problem() string {
	switch {
	case r.Err != "":
		return "could not be read: " + firstLine(r.Err)
	case r.AppErr != "":
		return "procmon's state could not be read: " + firstLine(r.AppErr)
	case r.Unlogged != "":
		return r.Unlogged
	case r.Serving != nil && r.Serving.Problem != "":
		return r.Serving.Problem
	}
	return ""
}

// WriteStatusTable prints one table for every host: current release, with
// procmon what it serves (SERVES: "current", another release, or nothing),
// sha, deploys behind the newest, free disk under path, lock, and with
// procmon the app state, ready/total workers, health, CPU/memory/disk and
// degraded flags. A host that could not be read says why in its row; what
// to do about a host whose procmon serves another release than current,
// or nothing, is its Problem (deploy status prints it as its error).
func WriteStatusTable(w io.Writer, rows []StatusRow, procmon bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "HOST\tRELEASE\tSHA\tBEHIND\tFREE\tLOCK"
	if procmon {
		head = "HOST\tRELEASE\tSERVES\tSHA\tBEHIND\tFREE\tLOCK\tAPP\tWORKERS\tHEALTH\tCPU\tMEM\tDISK\tDEGRADED"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(statusCells(r, procmon), "\t"))
	}
	return tw.Flush()
}

// cellReason is how much of why a host could not be read its RELEASE
// cell shows: the whole line is under the table (Problem), and a
// 300-character one (a login shell's error) would widen the column for
// every host. (procmon's reasons in the APP cell are short and name its
// socket: they stay whole.)
const cellReason = 40

// clip cuts s to n characters, marking a cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func statusCells(r StatusRow, procmon bool) []string {
	cells := []string{r.Host}
	if r.Deploy == nil {
		cells = append(cells, "unreachable: "+clip(firstLine(r.Err), cellReason))
		if procmon {
			cells = append(cells, "-") // SERVES
		}
		cells = append(cells, "-", "-", "-", "-")
	} else {
		d := r.Deploy
		rel := d.Current
		switch {
		case !d.LayoutOK:
			rel = "not set up"
		case rel == "":
			rel = "nothing deployed"
		}
		cells = append(cells, rel)
		if procmon {
			cells = append(cells, servingCell(r.Serving))
		}
		behind := fmt.Sprint(d.Behind)
		if d.Unlogged {
			behind = "not logged"
		}
		cells = append(cells, deploy.ShortSHA(d.SHA), behind, freeText(d.DiskFreeKB), cmp.Or(d.Lock, "-"))
	}
	if !procmon {
		return cells
	}
	return append(cells, appCells(r)...)
}

// appCells are procmon's columns of a row: APP to DEGRADED.
func appCells(r StatusRow) []string {
	if r.App == nil {
		why := r.AppErr
		if why == "" {
			why = "-" // the host itself could not be read
		}
		return []string{firstLine(why), "-", "-", "-", "-", "-", "-"}
	}
	a := r.App
	health := "-"
	if a.Heartbeat.Enabled {
		switch {
		case a.Heartbeat.LastCheck.IsZero():
			health = "not checked yet" // procmon just started or reloaded
		case a.Heartbeat.LastOK:
			health = "ok"
		default:
			health = fmt.Sprintf("failing (%d)", a.Heartbeat.Failures)
		}
	}
	cpu, mem, disk := "-", "-", "-"
	if m := a.Metrics; m != nil {
		cpu, mem, disk = pct(m.HostCPUPercent), pct(m.MemoryPercent), pct(m.DiskPercent)
	}
	deg, reasons := a.Degraded()
	degraded := "no"
	if deg {
		degraded = "yes"
		if len(reasons) > 0 {
			degraded += ": " + strings.Join(reasons, ", ")
		}
	}
	return []string{a.State, fmt.Sprintf("%d/%d", a.Ready(), len(a.Workers)), health, cpu, mem, disk, degraded}
}

// freeText is free disk space in KiB, made short (1.2G, 350M).
func freeText(kb int64) string {
	switch {
	case kb <= 0:
		return "-"
	case kb >= 1<<20:
		return fmt.Sprintf("%.1fG", float64(kb)/(1<<20))
	case kb >= 1<<10:
		return fmt.Sprintf("%dM", kb>>10)
	}
	return fmt.Sprintf("%dK", kb)
}

func pct(v float64) string { return fmt.Sprintf("%.0f%%", v) }

// servingCell is the SERVES column: "current", the release procmon serves
// instead, or nothing.
func servingCell(s *deploy.Serving) string {
	switch {
	case s == nil:
		return "-"
	case s.Ready == 0:
		return "NOTHING (503)"
	case s.Problem != "" && s.Release != "":
		return s.Release + " (NOT current)"
	case s.Problem != "":
		return s.Dir + " (NOT current)"
	}
	return "current"
}
