package logfile

import (
	"bytes"
	"io"
	"sync"
)

// Stream returns a writer for one output stream (stdout or stderr) of worker
// in generation gen. It splits what it is given into lines and never blocks
// on the disk; Close logs a final line that had no newline. It is safe for
// concurrent use, so stdout and stderr may share one.
func (l *Log) Stream(gen int, worker string) io.WriteCloser {
	return &stream{log: l, gen: gen, worker: worker}
}

type stream struct {
	log     *Log
	gen     int
	worker  string
	mu      sync.Mutex
	partial []byte
}

// Write implements io.Writer; it always accepts all of p.
func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	max := s.log.opts.MaxLine
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if room := max - len(s.partial); len(seg) > room {
			s.partial = append(s.partial, seg[:room]...)
			s.emit(true)
			p = p[room:]
			continue
		}
		s.partial = append(s.partial, seg...)
		if i < 0 {
			break
		}
		s.emit(false)
		p = p[i+1:]
	}
	return n, nil
}

// Close logs what is left of an unfinished line.
func (s *stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.emit(false)
	}
	return nil
}

func (s *stream) emit(cut bool) {
	text := bytes.TrimSuffix(s.partial, []byte("\r"))
	if cut {
		text = append(text, ContinuedMark...)
		s.log.cut.Add(1)
	}
	s.log.recent.add(s.gen, string(text))
	s.log.enqueue(s.log.format(s.gen, s.worker, text))
	s.partial = s.partial[:0]
}

// Write logs p as lines that are already stamped, for a supervisor that
// formats its own (it then passes the Log as its output writer). Each line
// of p is queued unchanged, a final line without newline is completed, and
// a line longer than MaxLine is cut into marked chunks. Like a stream, it
// never blocks on the disk and always accepts all of p. RecentFunc, not
// Recent, finds these lines.
func (l *Log) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		l.raw.add(line)
		for len(line) > l.opts.MaxLine {
			chunk := append(append([]byte(nil), line[:l.opts.MaxLine]...), ContinuedMark+"\n"...)
			l.cut.Add(1)
			l.enqueue(chunk)
			line = line[l.opts.MaxLine:]
		}
		l.enqueue(append(append(make([]byte, 0, len(line)+1), line...), '\n'))
	}
	return n, nil
}
