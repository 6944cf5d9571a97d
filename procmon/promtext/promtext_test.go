package promtext

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestWriteEscapesAndFormats: the exact text for HELP escapes, label
// value escapes, several labels, special values and a family without
// samples.
func TestWriteEscapesAndFormats(t *testing.T) {
	up := Family{Name: "app_scale_events_total", Help: `Changes of the count.\ Second line:` + "\n" + `"quoted"`, Type: Counter}
	up.Add(3, "direction", "up", "source", "scale")
	up.Add(0, "direction", `a\b"c`+"\nd", "source", "")
	g := Family{Name: "app:ratio", Help: "A gauge.", Type: Gauge}
	g.Add(0.25)
	g.Add(math.Inf(1), "k", "inf")
	g.Add(math.Inf(-1), "k", "-inf")
	g.Add(math.NaN(), "k", "nan")
	g.Add(1e21, "k", "big")
	empty := Family{Name: "app_empty", Help: "No samples yet.", Type: Gauge}
	var b bytes.Buffer
	if err := Write(&b, []Family{up, g, empty}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP app_scale_events_total Changes of the count.\\ Second line:\n"quoted"
# TYPE app_scale_events_total counter
app_scale_events_total{direction="up",source="scale"} 3
app_scale_events_total{direction="a\\b\"c\nd",source=""} 0
# HELP app:ratio A gauge.
# TYPE app:ratio gauge
app:ratio 0.25
app:ratio{k="inf"} +Inf
app:ratio{k="-inf"} -Inf
app:ratio{k="nan"} NaN
app:ratio{k="big"} 1e+21
# HELP app_empty No samples yet.
# TYPE app_empty gauge
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	fams, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if fams[0].Help != up.Help || fams[0].Samples[1].Labels[0].Value != `a\b"c`+"\nd" || len(fams) != 3 || len(fams[2].Samples) != 0 {
		t.Fatalf("read back: %+v", fams)
	}
}

// TestWriteRefusesWhatScrapersReject: each rule the package documents.
func TestWriteRefusesWhatScrapersReject(t *testing.T) {
	cases := []struct {
		name string
		f    Family
		want string
	}{
		{"counter without _total", Family{Name: "app_reloads", Help: "h", Type: Counter}, "ends in _total"},
		{"bad metric name", Family{Name: "app-reloads", Help: "h", Type: Gauge}, "not a metric name"},
		{"leading digit", Family{Name: "1app", Help: "h", Type: Gauge}, "not a metric name"},
		{"no help", Family{Name: "app_x", Type: Gauge}, "no help"},
		{"unknown type", Family{Name: "app_x", Help: "h", Type: "histogram"}, "neither counter nor gauge"},
		{"bad label name", Family{Name: "app_x", Help: "h", Type: Gauge, Samples: []Sample{{Labels: []Label{{"a:b", "v"}}}}}, "not a label name"},
		{"reserved label name", Family{Name: "app_x", Help: "h", Type: Gauge, Samples: []Sample{{Labels: []Label{{"__name__", "v"}}}}}, "not a label name"},
		{"label twice", Family{Name: "app_x", Help: "h", Type: Gauge, Samples: []Sample{{Labels: []Label{{"a", "1"}, {"a", "2"}}}}}, "given twice"},
		{"same labels twice", Family{Name: "app_x", Help: "h", Type: Gauge, Samples: []Sample{{Labels: []Label{{"a", "1"}}}, {Labels: []Label{{"a", "1"}}}}}, "two samples"},
		{"negative counter", Family{Name: "app_x_total", Help: "h", Type: Counter, Samples: []Sample{{Value: -1}}}, "counter value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Write(&b, []Family{tc.f})
			if err == nil || !strings.Contains(err.Error(), tc.want) || b.Len() != 0 {
				t.Fatalf("got %v (wrote %q), want an error with %q and nothing written", err, b.String(), tc.want)
			}
		})
	}
	dup := Family{Name: "app_x", Help: "h", Type: Gauge}
	if err := Write(&bytes.Buffer{}, []Family{dup, dup}); err == nil || !strings.Contains(err.Error(), "announced twice") {
		t.Fatalf("a family twice: %v", err)
	}
}

// TestParseIsStrict: what the parser refuses, line by line.
func TestParseIsStrict(t *testing.T) {
	head := "# HELP a_total h\n# TYPE a_total counter\n"
	cases := []struct{ name, text, want string }{
		{"no TYPE", "# HELP a h\na 1\n", "no HELP or no TYPE"},
		{"no HELP", "# TYPE a gauge\na 1\n", "no HELP or no TYPE"},
		{"sample before its family", "a_total 1\n" + head, "outside its family"},
		{"family split", head + "a_total 1\n# HELP b h\n# TYPE b gauge\nb 1\na_total{x=\"1\"} 2\n", "outside its family"},
		{"TYPE after samples", "# HELP a h\na 1\n# TYPE a gauge\n", "line 3: TYPE after samples"},
		{"second HELP", head + "# HELP a_total again\n", "a second HELP"},
		{"unquoted label", head + "a_total{x=1} 1\n", "not quoted"},
		{"bad escape", head + `a_total{x="\t"} 1` + "\n", `unknown escape \t`},
		{"raw quote", head + `a_total{x="a"b"} 1` + "\n", "want , or }"},
		{"no value", head + "a_total{x=\"1\"}\n", "no space before the value"},
		{"bad value", head + "a_total 1O\n", `value "1O"`},
		{"duplicate series", head + "a_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n", "two samples"},
		{"counter not _total", "# HELP a h\n# TYPE a counter\na 1\n", "ends in _total"},
		{"extra field", head + "a_total 1 2 3\n", "at most a timestamp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	fams, err := Parse(strings.NewReader("# a comment\n\n" + head + `a_total{x="q\"\\\n",y=""} 1 1700000000000` + "\n"))
	want := []Family{{Name: "a_total", Help: "h", Type: Counter, Samples: []Sample{{Labels: []Label{{"x", "q\"\\\n"}, {"y", ""}}, Value: 1}}}}
	if err != nil || !reflect.DeepEqual(fams, want) {
		t.Fatalf("got %+v %v", fams, err)
	}
}

// FuzzLabelValues: any label value and help text Write accepts reads
// back the same.
func FuzzLabelValues(f *testing.F) {
	for _, s := range []string{"", `\`, `"`, "\n", `a\"b\\n`, "é\x00\xff"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, value, help string) {
		if help == "" {
			help = "h"
		}
		fam := Family{Name: "x_total", Help: help, Type: Counter}
		fam.Add(1, "v", value)
		var b bytes.Buffer
		if err := Write(&b, []Family{fam}); err != nil {
			t.Fatal(err)
		}
		got, err := Parse(&b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		if got[0].Help != help || got[0].Samples[0].Labels[0].Value != value {
			t.Fatalf("read back help %q value %q, wrote %q %q", got[0].Help, got[0].Samples[0].Labels[0].Value, help, value)
		}
	})
}
