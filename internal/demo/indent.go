package demo

import (
	"bytes"
	"io"
	"sync"
)

// indentWriter indents every line of a child's output under the demo's
// own narration.
type indentWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func indent(w io.Writer) io.Writer { return &indentWriter{w: w} }

func (iw *indentWriter) Write(p []byte) (int, error) {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	iw.buf = append(iw.buf, p...)
	for {
		i := bytes.IndexByte(iw.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := iw.w.Write(append([]byte("    "), iw.buf[:i+1]...)); err != nil {
			return len(p), err
		}
		iw.buf = iw.buf[i+1:]
	}
}

// lockedWriter serialises writes from the demo and its children.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
