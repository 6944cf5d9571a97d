// Package promtext writes metrics in the Prometheus text exposition format,
// version 0.0.4: what a Prometheus server, VictoriaMetrics, the Grafana
// agent or the OpenTelemetry collector scrape from GET /metrics.
//
// A [Family] is one metric name with its HELP, its TYPE and its samples;
// [Write] renders families in the order given, each as
//
//	# HELP procmon_reloads_total Reloads finished since procmon started, by verdict.
//	# TYPE procmon_reloads_total counter
//	procmon_reloads_total{outcome="served"} 3
//	procmon_reloads_total{outcome="abandoned"} 1
//
// Write checks what the format requires and a scraper would otherwise
// reject or misread: metric and label names from their character sets, a
// counter's name ending in _total, no two samples of a family with the
// same labels, a label named at most once per sample. HELP text escapes
// backslash and newline; label values escape backslash, double quote and
// newline. Values are Go floats: NaN, +Inf and -Inf are written as such.
//
// It is deliberately small: procmon's counters live in its supervisor and
// are read at scrape time, so there is no registry, no histogram and no
// timestamp.
package promtext
