package logfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// ContinuedMark ends every chunk of a line that was cut because it was
// longer than MaxLine.
const ContinuedMark = " [line continues]"

// Defaults for the zero fields of Options.
const (
	DefaultMaxSize    = 10 << 20
	DefaultMaxLine    = 16 << 10
	DefaultQueueLines = 4096
	DefaultQueueBytes = 4 << 20
)

// Options tunes a Log. Zero fields take the defaults above.
type Options struct {
	// MaxSize is the size in bytes at which the file is rotated to .1.
	MaxSize int64
	// MaxLine is the longest line text kept in one log line; longer lines
	// are cut into chunks.
	MaxLine int
	// QueueLines and QueueBytes bound the lines waiting for the disk.
	QueueLines int
	QueueBytes int64
	// Now stamps lines; nil means time.Now.
	Now func() time.Time
	// GID, when more than 0, is the group the file (and each file that
	// replaces it at a rotation) is given, so that the group's members (the
	// deploy user) may read it; 0 leaves the creating process's group.
	// The mode is 0640 either way.
	GID int
}

// Stats counts what happened to lines since the Log was opened.
type Stats struct {
	Written   uint64 // lines written to the file
	Dropped   uint64 // lines dropped because the queue was full or the Log closed
	Cut       uint64 // chunks produced by cutting long lines
	Rotations uint64 // times the file was rotated to .1
	Errors    uint64 // failed writes, rotations or reopenings
	LastError string
}

// Log is a capped append-only log file fed by many streams.
type Log struct {
	path string
	opts Options

	queue   chan []byte
	queued  atomic.Int64
	dropped atomic.Uint64
	cut     atomic.Uint64
	quit    chan struct{}
	done    chan struct{}
	closing sync.Once

	recent *recent
	raw    rawRing

	mu    sync.Mutex // guards stats fields below, written by the writer goroutine
	stats Stats
}

// Open opens (creating if needed, mode 0640, group opts.GID) the log file
// at path for appending and starts its writer goroutine. Close stops it.
func Open(path string, opts Options) (*Log, error) {
	if path == "" {
		return nil, errors.New("log file: empty path (set log.file in the config)")
	}
	opts = withDefaults(opts)
	f, size, err := openAppend(path, opts.GID)
	if err != nil {
		return nil, err
	}
	l := &Log{
		path:   path,
		opts:   opts,
		queue:  make(chan []byte, opts.QueueLines),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		recent: newRecent(recentPerGeneration, recentGenerations),
	}
	w := &writer{log: l, f: f, size: size}
	go w.run()
	return l, nil
}

func withDefaults(o Options) Options {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.QueueLines <= 0 {
		o.QueueLines = DefaultQueueLines
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// openAppend opens path for appending, with mode 0640 and, when gid > 0,
// that group: an existing file gets them too.
func openAppend(path string, gid int) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, 0, fmt.Errorf("open log file: %w (check that its directory exists and is writable)", err)
	}
	if gid > 0 {
		err = f.Chown(-1, gid)
		if err == nil {
			err = f.Chmod(0o640)
		}
		if err != nil {
			f.Close()
			return nil, 0, hint.Wrap(fmt.Errorf("log file %s: give it to group %d: %w", path, gid, err), "procmon must run as root or be a member of that group")
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open log file: %w", err)
	}
	return f, fi.Size(), nil
}

// Path returns the file the Log writes.
func (l *Log) Path() string { return l.path }

// Line logs one line of text from worker of generation gen, as a stream
// would. Newlines inside text start new log lines.
func (l *Log) Line(gen int, worker, text string) {
	s := l.Stream(gen, worker)
	s.Write([]byte(text + "\n"))
	s.Close()
}

// Recent returns up to n of the last lines logged for generation gen, oldest
// first, from memory: the answer to "why did that generation fail". Only the
// last few generations and lines per generation are kept.
func (l *Log) Recent(gen, n int) []string { return l.recent.get(gen, n) }

// RecentFunc returns up to n of the last lines given to Write (the last
// thousand are kept, each cut to 512 bytes) that keep accepts, oldest first;
// keep nil accepts all. A supervisor that stamps "gen=5" into its lines
// finds a failed generation's last words with a keep that looks for it.
func (l *Log) RecentFunc(n int, keep func(line string) bool) []string {
	return l.raw.last(n, keep)
}

// Stats returns the counters so far.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	s := l.stats
	l.mu.Unlock()
	s.Dropped = l.dropped.Load()
	s.Cut = l.cut.Load()
	return s
}

// Close flushes the queued lines, stops the writer and closes the file.
// Lines written afterwards are dropped. It returns the last write, rotation
// or close error seen during the Log's life, if any (Stats counts them).
func (l *Log) Close() error {
	l.closing.Do(func() { close(l.quit) })
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stats.LastError != "" {
		return fmt.Errorf("log file %s: %s", l.path, l.stats.LastError)
	}
	return nil
}

// enqueue hands one finished log line (newline included) to the writer
// without ever blocking.
func (l *Log) enqueue(line []byte) {
	select {
	case <-l.quit:
		l.dropped.Add(1)
		return
	default:
	}
	if l.queued.Add(int64(len(line))) > l.opts.QueueBytes {
		l.queued.Add(-int64(len(line)))
		l.dropped.Add(1)
		return
	}
	select {
	case l.queue <- line:
	default:
		l.queued.Add(-int64(len(line)))
		l.dropped.Add(1)
	}
}

// format builds one log line: time, gen/worker, text, newline.
func (l *Log) format(gen int, worker string, text []byte) []byte {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	b := make([]byte, 0, len(layout)+len(worker)+len(text)+24)
	b = l.opts.Now().UTC().AppendFormat(b, layout)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(gen), 10)
	b = append(b, '/')
	b = append(b, worker...)
	b = append(b, ' ')
	b = append(b, text...)
	return append(b, '\n')
}
