// Package logfile is procmon's capped, append-only log of its workers'
// output.
//
// Format: one line per worker line,
//
//	<RFC3339 UTC time, milliseconds> <generation>/<worker> <text>
//
// e.g. "2026-11-24T06:15:02.123Z 3/w1 listening on :3001". procmon's own
// events use the worker name "procmon".
//
// Writing: a supervisor that stamps its own lines passes the [Log] as its
// output io.Writer ([Log.Write] queues whole lines unchanged); otherwise
// [Log.Stream] gives each worker stream an io.WriteCloser that
// splits its bytes into lines. Complete lines go through one bounded queue
// to a single writer goroutine, which is the only code touching the file, so
// lines of two workers never interleave mid-line. The queue is bounded in
// lines and in bytes; when it is full (the disk is slower than the workers)
// a line is dropped and counted, and a "dropped N lines" line is written as
// soon as there is room. Write never blocks on the disk, so a flooding
// worker cannot stall procmon. A line longer than MaxLine bytes is cut into
// chunks of at most MaxLine bytes; every chunk but the last ends with
// [ContinuedMark].
//
// Cap: before a line would take the file past MaxSize, the file is renamed
// to "<file>.1" (replacing the previous one) and a new file started, so the
// file never exceeds MaxSize unless a single line is larger than it, and the
// disk holds at most about twice MaxSize.
//
// Reading: [Tail] returns the last N lines, reaching into "<file>.1" when
// the current file holds fewer; [Read] with Follow keeps printing new lines,
// noticing a rotation (the path names a new file) by polling, finishing the
// old file before starting on the new one.
package logfile
