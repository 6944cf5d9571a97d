package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// DefaultPoll is how often Read with Follow looks for new lines.
const DefaultPoll = 250 * time.Millisecond

// maxPending bounds an unterminated line held back while following; past
// it the bytes are emitted as they are.
const maxPending = 1 << 20

// ReadOptions says what Read prints.
type ReadOptions struct {
	// Lines is how many of the last lines to print first; 0 prints none,
	// so a follow starts at the current end.
	Lines int
	// Follow keeps printing lines as they are written, across rotations,
	// until ctx ends.
	Follow bool
	// Poll is the follow polling interval; zero means DefaultPoll.
	Poll time.Duration
}

// Tail returns the last n complete lines of the log at path, oldest first,
// taking the older ones from path+".1" when path holds fewer than n.
func Tail(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	defer f.Close()
	end, err := completeEnd(f)
	if err != nil {
		return nil, err
	}
	return tailFrom(f, end, path, n)
}

// Read emits the last opts.Lines lines of the log at path and, with
// opts.Follow, every line written after them until ctx ends. The end of ctx
// is not an error. emit's error stops Read and is returned.
func Read(ctx context.Context, path string, opts ReadOptions, emit func(line string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read log: %w (is log.file right, and has procmon started?)", err)
	}
	defer func() { f.Close() }()
	end, err := completeEnd(f)
	if err != nil {
		return err
	}
	lines, err := tailFrom(f, end, path, opts.Lines)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	fl := &follower{path: path, f: f, off: end, emit: emit}
	defer func() { f = fl.f }()
	return fl.run(ctx, opts.Poll)
}

func tailFrom(f *os.File, end int64, path string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	lines, err := lastLines(f, end, n)
	if err != nil || len(lines) >= n {
		return lines, err
	}
	old, err := os.Open(path + ".1")
	if errors.Is(err, os.ErrNotExist) {
		return lines, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	defer old.Close()
	oldEnd, err := completeEnd(old)
	if err != nil {
		return nil, err
	}
	more, err := lastLines(old, oldEnd, n-len(lines))
	return append(more, lines...), err
}

// completeEnd returns the offset just past the last newline of f.
func completeEnd(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("read log: %w", err)
	}
	end := fi.Size()
	const block = 4096
	buf := make([]byte, block)
	for end > 0 {
		start := max(end-block, 0)
		k, err := f.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("read log: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:k], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// lastLines returns the last n lines of f[:end], which ends with a newline.
func lastLines(f *os.File, end int64, n int) ([]string, error) {
	const block = 64 << 10
	var data []byte
	pos := end
	for pos > 0 && bytes.Count(data, []byte{'\n'}) <= n {
		start := max(pos-block, 0)
		chunk := make([]byte, pos-start)
		if _, err := f.ReadAt(chunk, start); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read log: %w", err)
		}
		data = append(chunk, data...)
		pos = start
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	if len(data) == 0 {
		return nil, nil
	}
	if pos > 0 || len(lines) > n {
		lines = lines[max(len(lines)-n, 0):]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out, nil
}

// follower reads new lines from a log that may be rotated under it.
type follower struct {
	path    string
	f       *os.File
	off     int64
	pending []byte
	emit    func(string) error
}

func (fl *follower) run(ctx context.Context, poll time.Duration) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := fl.step(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// step emits what was appended, then switches files when the path names a
// new one: the old file is read to its end first, so no line is missed.
// When the log rotated twice between two polls, the middle file is now
// ".1" and is read whole before the new file. The new file is opened
// before the old one is finished, and the middle one is told from the
// file opened: a rotation while the old one is read to its end used to
// make the middle file ".1" and the stat of the path taken before it a
// stale "new" one, and the middle file was skipped (lines lost, seen
// under load). A third rotation within one poll interval still loses the
// middle files (only ".1" is kept), as it does for tail -F.
func (fl *follower) step() error {
	if err := fl.readNew(); err != nil {
		return err
	}
	cur, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("follow log: %w", err)
	}
	if cur.Size() < fl.off { // truncated in place
		fl.off, fl.pending = 0, nil
	}
	if next, err := os.Stat(fl.path); err != nil || os.SameFile(cur, next) {
		return nil // mid-rotation (no file yet) or no rotation
	}
	nf, err := os.Open(fl.path)
	if err != nil {
		return nil // mid-rotation: the next poll takes it
	}
	next, err := nf.Stat()
	if err != nil {
		nf.Close()
		return fmt.Errorf("follow log: %w", err)
	}
	if err := fl.finish(); err != nil {
		nf.Close()
		return err
	}
	if err := fl.readMiddle(cur, next); err != nil {
		nf.Close()
		return err
	}
	fl.f.Close()
	fl.f, fl.off = nf, 0
	return fl.readNew()
}

// finish reads the current file to its end, including an unfinished line.
func (fl *follower) finish() error {
	if err := fl.readNew(); err != nil {
		return err
	}
	if len(fl.pending) == 0 {
		return nil
	}
	line := string(fl.pending)
	fl.pending = nil
	return fl.emit(line)
}

// readMiddle reads ".1" whole when it is neither the file just finished nor
// the new one.
func (fl *follower) readMiddle(old, next os.FileInfo) error {
	mid, err := os.Open(fl.path + ".1")
	if err != nil {
		return nil
	}
	fi, err := mid.Stat()
	if err != nil || os.SameFile(fi, old) || os.SameFile(fi, next) {
		mid.Close()
		return nil
	}
	prev := fl.f
	fl.f, fl.off = mid, 0
	err = fl.finish()
	fl.f = prev
	mid.Close()
	return err
}

func (fl *follower) readNew() error {
	buf := make([]byte, 64<<10)
	for {
		k, err := fl.f.ReadAt(buf, fl.off)
		fl.off += int64(k)
		data := append(fl.pending, buf[:k]...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			if eerr := fl.emit(string(data[:i])); eerr != nil {
				return eerr
			}
			data = data[i+1:]
		}
		if len(data) > maxPending {
			if eerr := fl.emit(string(data)); eerr != nil {
				return eerr
			}
			data = nil
		}
		fl.pending = append([]byte(nil), data...)
		if err == io.EOF || k == 0 {
			return nil
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("follow log: %w", err)
		}
	}
}
