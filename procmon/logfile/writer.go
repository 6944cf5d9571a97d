package logfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// batchBytes bounds how much the writer gathers into one write(2).
const batchBytes = 64 << 10

// writer is the single goroutine that owns the file.
type writer struct {
	log      *Log
	f        *os.File // nil after a failed reopen; retried on the next batch
	size     int64
	buf      []byte
	reported uint64 // drops already reported in the file
	writeErr string // the last failed write's error, since the last report
}

func (w *writer) run() {
	l := w.log
	defer close(l.done)
	for {
		select {
		case line := <-l.queue:
			w.take(line)
			w.gather()
			w.flush()
			w.reportDrops()
		case <-l.quit:
			w.drain()
			w.reportDrops()
			if w.f != nil {
				if err := w.f.Close(); err != nil {
					w.fail(fmt.Errorf("close: %w", err))
				}
			}
			return
		}
	}
}

// gather takes whatever else is already queued, up to batchBytes.
func (w *writer) gather() {
	for len(w.buf) < batchBytes {
		select {
		case line := <-w.log.queue:
			w.take(line)
		default:
			return
		}
	}
}

// drain writes everything still queued, at Close.
func (w *writer) drain() {
	for {
		select {
		case line := <-w.log.queue:
			w.take(line)
			if len(w.buf) >= batchBytes {
				w.flush()
			}
		default:
			w.flush()
			return
		}
	}
}

func (w *writer) take(line []byte) {
	w.log.queued.Add(-int64(len(line)))
	w.add(line)
}

// add appends a line to the batch, rotating first when the line would take
// the file past MaxSize.
func (w *writer) add(line []byte) {
	pending := w.size + int64(len(w.buf))
	if pending > 0 && pending+int64(len(line)) > w.log.opts.MaxSize {
		w.flush()
		w.rotate()
	}
	w.buf = append(w.buf, line...)
}

// flush writes the batch; it says whether all of it was written.
func (w *writer) flush() bool {
	if len(w.buf) == 0 {
		return true
	}
	lines := countLines(w.buf)
	defer func() { w.buf = w.buf[:0] }()
	if w.f == nil && !w.reopen() {
		w.log.dropped.Add(lines)
		return false
	}
	n, err := w.f.Write(w.buf)
	if err != nil {
		w.fail(fmt.Errorf("write: %w", err))
		w.writeErr = err.Error()
		n = w.cutHalfLine(n)
		w.log.dropped.Add(lines - countLines(w.buf[:n]))
		lines = countLines(w.buf[:n])
	}
	w.size += int64(n)
	w.log.mu.Lock()
	w.log.stats.Written += lines
	w.log.mu.Unlock()
	return err == nil
}

// cutHalfLine takes off the file's end what a failed write of w.buf left
// after its last whole line (a full disk takes a write up to its last
// block's end), or the next line would run into it; it returns how much
// of w.buf the file keeps.
func (w *writer) cutHalfLine(n int) int {
	half := n - (bytes.LastIndexByte(w.buf[:n], '\n') + 1)
	if half == 0 {
		return n
	}
	end, err := w.f.Seek(0, io.SeekCurrent) // O_APPEND: the file's end
	if err == nil {
		err = w.f.Truncate(end - int64(half))
	}
	if err != nil {
		w.fail(fmt.Errorf("cut a line left half written: %w", err))
		return n
	}
	return n - half
}

// rotate moves the file to .1 and starts an empty one. When the rename
// fails the file is truncated instead, so the cap holds either way.
func (w *writer) rotate() {
	path := w.log.path
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			w.fail(fmt.Errorf("close before rotation: %w", err))
		}
		w.f = nil
	}
	if err := os.Rename(path, path+".1"); err != nil {
		w.fail(fmt.Errorf("rotate to %s.1: %w", path, err))
		if err := os.Truncate(path, 0); err != nil {
			w.fail(fmt.Errorf("truncate after failed rotation: %w", err))
		}
	}
	w.log.mu.Lock()
	w.log.stats.Rotations++
	w.log.mu.Unlock()
	w.reopen()
}

func (w *writer) reopen() bool {
	f, size, err := openAppend(w.log.path, w.log.opts.GID)
	if err != nil {
		w.fail(err)
		return false
	}
	w.f, w.size = f, size
	return true
}

// reportDrops writes one line saying how many lines were lost since the
// last report.
func (w *writer) reportDrops() {
	d := w.log.dropped.Load()
	if d == w.reported {
		return
	}
	msg := fmt.Sprintf("dropped %d lines: workers wrote faster than the disk took them", d-w.reported)
	if w.writeErr != "" {
		msg = fmt.Sprintf("dropped %d lines: writing the log file failed (%s)", d-w.reported, w.writeErr)
	}
	prev, why := w.reported, w.writeErr
	w.reported, w.writeErr = d, ""
	w.add(w.log.format(0, "procmon", []byte(msg)))
	if !w.flush() {
		// The report was lost too (the disk still full): the next one
		// says it all, not counting this report among the lines.
		w.log.dropped.Add(^uint64(0))
		w.reported, w.writeErr = prev, why
	}
}

func (w *writer) fail(err error) {
	w.log.mu.Lock()
	w.log.stats.Errors++
	w.log.stats.LastError = err.Error()
	w.log.mu.Unlock()
}

func countLines(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
