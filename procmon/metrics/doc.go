// Package metrics samples host and worker resource use for procmon's status
// and its "degraded" state.
//
// Every Interval (default 30 s) a [Sampler] reads, through a [Source]:
// host CPU time (/proc/stat), memory (/proc/meminfo MemTotal and
// MemAvailable), disk use of the app's filesystem (statfs, counted as df
// does: used / (used + available to users)), and CPU time and RSS of each
// worker process (/proc/<pid>/stat and statm). CPU percentages come from the
// difference between two readings: host CPU in percent of the whole machine,
// worker CPU in percent of one core (as top shows it, so a busy
// single-threaded worker reads 100). Worker RSS is also compared with the
// host's memory.
//
// Any reading at or over Threshold (default 80 %) marks the [Sample]
// Degraded, with one reason per reading. The Sampler keeps the last History
// samples (default 20, ten minutes at the default interval) in memory.
//
// Only the worker's own pid is measured, not its children.
package metrics
