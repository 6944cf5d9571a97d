package promtext

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ContentType is the Content-Type of the format Write produces.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a family's TYPE.
type Type string

// The types procmon uses.
const (
	// Counter only grows (it restarts from zero when the process does);
	// its name ends in _total.
	Counter Type = "counter"
	// Gauge goes up and down.
	Gauge Type = "gauge"
)

// Family is one metric: a name, its help line, its type and its samples.
type Family struct {
	Name string
	Help string
	Type Type
	// Samples may be empty: the family is still announced (HELP, TYPE).
	Samples []Sample
}

// Sample is one series of a family: its labels and its value.
type Sample struct {
	// Labels are written in this order; nil means none.
	Labels []Label
	Value  float64
}

// Label is one name="value" pair.
type Label struct {
	Name, Value string
}

// Add appends a sample with value v and labels given as name, value
// pairs: f.Add(3, "worker", "1").
func (f *Family) Add(v float64, nameValues ...string) {
	s := Sample{Value: v}
	for i := 0; i+1 < len(nameValues); i += 2 {
		s.Labels = append(s.Labels, Label{nameValues[i], nameValues[i+1]})
	}
	f.Samples = append(f.Samples, s)
}

// Write renders fams to w in the order given. It writes nothing and
// returns an error naming the family when one breaks the format's rules
// (see the package documentation).
func Write(w io.Writer, fams []Family) error {
	if err := Check(fams); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		bw.WriteString("# HELP " + f.Name + " " + escapeHelp(f.Help) + "\n")
		bw.WriteString("# TYPE " + f.Name + " " + string(f.Type) + "\n")
		for _, s := range f.Samples {
			bw.WriteString(f.Name)
			if len(s.Labels) > 0 {
				bw.WriteByte('{')
				for i, l := range s.Labels {
					if i > 0 {
						bw.WriteByte(',')
					}
					bw.WriteString(l.Name + `="` + escapeLabel(l.Value) + `"`)
				}
				bw.WriteByte('}')
			}
			bw.WriteString(" " + FormatValue(s.Value) + "\n")
		}
	}
	return bw.Flush()
}

// Check returns the first way fams break the format's rules, or nil.
func Check(fams []Family) error { return check(fams, true) }

func check(fams []Family, needHelp bool) error {
	names := map[string]bool{}
	var errs []error
	for _, f := range fams {
		if err := checkFamily(f, needHelp); err != nil {
			errs = append(errs, fmt.Errorf("metric %q: %w", f.Name, err))
		}
		if names[f.Name] {
			errs = append(errs, fmt.Errorf("metric %q: announced twice", f.Name))
		}
		names[f.Name] = true
	}
	return errors.Join(errs...)
}

func checkFamily(f Family, needHelp bool) error {
	switch {
	case !validName(f.Name, true):
		return errors.New("not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
	case f.Type != Counter && f.Type != Gauge:
		return fmt.Errorf("type %q is neither counter nor gauge", f.Type)
	case f.Type == Counter && !strings.HasSuffix(f.Name, "_total"):
		return errors.New("a counter's name ends in _total")
	case needHelp && f.Help == "":
		return errors.New("no help text")
	}
	seen := map[string]bool{}
	for _, s := range f.Samples {
		var key strings.Builder
		names := map[string]bool{}
		for _, l := range s.Labels {
			if !validName(l.Name, false) || strings.HasPrefix(l.Name, "__") {
				return fmt.Errorf("label %q: not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", l.Name)
			}
			if names[l.Name] {
				return fmt.Errorf("label %q given twice", l.Name)
			}
			names[l.Name] = true
			fmt.Fprintf(&key, "%s=%q,", l.Name, l.Value)
		}
		if seen[key.String()] {
			return fmt.Errorf("two samples with labels {%s}", strings.TrimSuffix(key.String(), ","))
		}
		seen[key.String()] = true
		if f.Type == Counter && (s.Value < 0 || math.IsNaN(s.Value)) {
			return fmt.Errorf("counter value %v", s.Value)
		}
	}
	return nil
}

// validName says whether s is a metric name (colons allowed) or a label
// name (colon: false), in the legacy character set every scraper reads.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9') || (colon && c == ':')
		if !ok {
			return false
		}
	}
	return true
}

// FormatValue writes v as the format wants it: the shortest decimal
// that reads back as v, and NaN, +Inf, -Inf.
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }
