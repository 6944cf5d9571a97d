package report

import (
	"encoding/json"

	"github.com/deploytool/deploy/deploy"
)

// checkItemJSON is a CheckItem as --json prints it.
type checkItemJSON struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

func checkItemsJSON(items []deploy.CheckItem) []checkItemJSON {
	out := make([]checkItemJSON, len(items))
	for i, it := range items {
		out[i] = checkItemJSON(it)
	}
	return out
}

// MarshalJSON writes a CheckRow with snake_case keys.
func (r CheckRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Host    string          `json:"host"`
		Items   []checkItemJSON `json:"items"`
		Current string          `json:"current,omitempty"`
		Err     string          `json:"error,omitempty"`
	}{r.Host, checkItemsJSON(r.Items), r.Current, r.Err})
}

// CheckItemJSON returns it with snake_case keys, as `check --json` prints
// it.
func CheckItemJSON(it deploy.CheckItem) any {
	return checkItemJSON(it)
}

// hostStatusJSON is a HostStatus as --json prints it.
type hostStatusJSON struct {
	Release    string `json:"release,omitempty"`
	SHA        string `json:"sha,omitempty"`
	Behind     int    `json:"behind"`
	LayoutOK   bool   `json:"layout_ok"`
	Lock       string `json:"lock"`
	DiskFreeKB int64  `json:"disk_free_kb"`
	Unlogged   bool   `json:"unlogged,omitempty"`
}

// MarshalJSON writes a StatusRow with snake_case keys.
func (r StatusRow) MarshalJSON() ([]byte, error) {
	var d *hostStatusJSON
	if r.Deploy != nil {
		d = &hostStatusJSON{r.Deploy.Current, r.Deploy.SHA, r.Deploy.Behind, r.Deploy.LayoutOK, r.Deploy.Lock, r.Deploy.DiskFreeKB, r.Deploy.Unlogged}
	}
	return json.Marshal(struct {
		Host    string            `json:"host"`
		Deploy  *hostStatusJSON   `json:"deploy,omitempty"`
		Err     string            `json:"error,omitempty"`
		App     *deploy.AppStatus `json:"app,omitempty"`
		AppErr  string            `json:"app_error,omitempty"`
		AppHint string            `json:"app_hint,omitempty"`
		Serving *servingJSON      `json:"serving,omitempty"`
		Problem string            `json:"problem,omitempty"`
	}{r.Host, d, r.Err, r.App, r.AppErr, r.AppHint, servingOf(r.Serving), r.Problem()})
}

// servingJSON is a Serving as --json prints it: serves_current is true when
// procmon serves current with at least one ready worker.
type servingJSON struct {
	Release string `json:"release,omitempty"`
	Dir     string `json:"dir"`
	Ready   int    `json:"ready_workers"`
	Current bool   `json:"serves_current"`
	Problem string `json:"problem,omitempty"`
}

// servingOf is s as --json prints it (nil = nothing to compare).
func servingOf(s *deploy.Serving) *servingJSON {
	if s == nil {
		return nil
	}
	return &servingJSON{Release: s.Release, Dir: s.Dir, Ready: s.Ready, Current: s.Problem == "", Problem: s.Problem}
}
