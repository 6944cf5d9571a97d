package report

import (
	"cmp"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/deploytool/deploy/deploy"
)

// CheckRow is one host's preflight: Check's items and the release current
// points at.
type CheckRow struct {
	// Host is the host as written in the config.
	Host string
	// Items are Check's findings (nil when Err is set).
	Items []deploy.CheckItem
	// Current is the release current points at ("" = none).
	Current string
	// Err is why the host could not be checked ("" = it was).
	Err string
}

// SameCurrent is the fleet-wide check: every host reachable and on the
// same current release.
func SameCurrent(rows []CheckRow) deploy.CheckItem {
	by := map[string][]string{}
	for _, r := range rows {
		if r.Err != "" {
			return deploy.CheckItem{Name: "same-current", Detail: r.Host + " could not be checked"}
		}
		by[r.Current] = append(by[r.Current], r.Host)
	}
	if len(by) <= 1 {
		for cur := range by {
			return deploy.CheckItem{Name: "same-current", OK: true, Detail: "all hosts on " + cmp.Or(cur, "nothing deployed")}
		}
		return deploy.CheckItem{Name: "same-current", OK: true, Detail: "no hosts"}
	}
	var parts []string
	for cur, hosts := range by {
		parts = append(parts, fmt.Sprintf("%s on %s", strings.Join(hosts, ","), cmp.Or(cur, "nothing")))
	}
	sort.Strings(parts)
	return deploy.CheckItem{Name: "same-current", Detail: "hosts differ: " + strings.Join(parts, "; ") +
		": deploy (or revert) to bring them together"}
}

// WriteCheckTable prints every host's items, then the fleet-wide
// same-current item, then a hint line per failure. It returns how many
// items failed (a host that could not be checked counts as one).
func WriteCheckTable(w io.Writer, rows []CheckRow) (int, error) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tCHECK\tRESULT\tDETAIL")
	var hints []string
	line := func(host string, it deploy.CheckItem) {
		res := "ok"
		if !it.OK {
			res = "FAIL"
			hints = append(hints, fmt.Sprintf("%s %s: %s", host, it.Name, it.Detail))
		}
		detail := it.Detail
		if !it.OK {
			detail, _, _ = strings.Cut(detail, ": ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", host, it.Name, res, detail)
	}
	for _, r := range rows {
		if r.Err != "" {
			line(r.Host, deploy.CheckItem{Name: "ssh", Detail: firstLine(r.Err)})
			continue
		}
		for _, it := range r.Items {
			line(r.Host, it)
		}
	}
	if len(rows) > 1 {
		line("(all)", SameCurrent(rows))
	}
	if err := tw.Flush(); err != nil {
		return len(hints), err
	}
	if len(hints) == 0 {
		_, err := fmt.Fprintln(w, "\nall checks passed")
		return 0, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d check(s) failed:\n", len(hints))
	for _, h := range hints {
		b.WriteString("hint: " + h + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return len(hints), err
}
