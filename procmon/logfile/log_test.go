package logfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var lineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\d+)/(\S+) (.*)$`)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s ends mid-line", path)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func open(t *testing.T, o Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.log")
	l, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func TestLineFormat(t *testing.T) {
	now := time.Date(2026, 11, 24, 6, 15, 2, 123e6, time.UTC)
	l, path := open(t, Options{Now: func() time.Time { return now }})
	s := l.Stream(3, "w1")
	io.WriteString(s, "hello\r\nwor")
	io.WriteString(s, "ld\nunfinished")
	s.Close()
	l.Line(3, "procmon", "worker w1 exited")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, path)
	want := []string{
		"2026-11-24T06:15:02.123Z 3/w1 hello",
		"2026-11-24T06:15:02.123Z 3/w1 world",
		"2026-11-24T06:15:02.123Z 3/w1 unfinished",
		"2026-11-24T06:15:02.123Z 3/procmon worker w1 exited",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := l.Recent(3, 2); len(r) != 2 || r[1] != "worker w1 exited" {
		t.Fatalf("Recent = %q", r)
	}
}

func TestHugeLineIsCutIntoMarkedChunks(t *testing.T) {
	l, path := open(t, Options{MaxLine: 1000})
	s := l.Stream(1, "w1")
	huge := strings.Repeat("x", 3500)
	for i := 0; i < len(huge); i += 700 { // arrives in pieces, no newline
		s.Write([]byte(huge[i : i+700]))
	}
	s.Write([]byte("\n"))
	l.Close()
	lines := readLines(t, path)
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4 chunks", len(lines))
	}
	total := 0
	for i, line := range lines {
		text := lineRE.FindStringSubmatch(line)[3]
		if i < 3 != strings.HasSuffix(text, ContinuedMark) {
			t.Errorf("chunk %d: mark wrong: %q", i, text[max(0, len(text)-30):])
		}
		text = strings.TrimSuffix(text, ContinuedMark)
		if len(text) > 1000 {
			t.Errorf("chunk %d is %d bytes, over MaxLine", i, len(text))
		}
		total += len(text)
	}
	if total != len(huge) {
		t.Errorf("chunks hold %d bytes, want %d", total, len(huge))
	}
	if st := l.Stats(); st.Cut != 3 {
		t.Errorf("Stats.Cut = %d, want 3", st.Cut)
	}
}

// TestConcurrentStreamsNeverInterleave writes lines from two workers in
// odd-sized pieces at once and checks every line is whole and present.
func TestConcurrentStreamsNeverInterleave(t *testing.T) {
	l, path := open(t, Options{QueueLines: 10000, QueueBytes: 8 << 20})
	const perWorker = 2000
	var wg sync.WaitGroup
	for w := 1; w <= 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := l.Stream(7, fmt.Sprintf("w%d", w))
			defer s.Close()
			var b strings.Builder
			for i := 0; i < perWorker; i++ {
				fmt.Fprintf(&b, "w%d-%d %s\n", w, i, strings.Repeat(strconv.Itoa(w), 40+i%60))
			}
			data := []byte(b.String())
			for i := 0; len(data) > 0; i++ {
				n := min(len(data), 1+(i*37)%97)
				s.Write(data[:n])
				data = data[n:]
			}
		}(w)
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for _, line := range readLines(t, path) {
		m := lineRE.FindStringSubmatch(line)
		if m == nil || m[1] != "7" {
			t.Fatalf("malformed line %q", line)
		}
		worker, text := m[2], m[3]
		var w, i int
		var body string
		if _, err := fmt.Sscanf(text, "w%d-%d %s", &w, &i, &body); err != nil || "w"+strconv.Itoa(w) != worker {
			t.Fatalf("line of %s holds %q", worker, text)
		}
		if body != strings.Repeat(strconv.Itoa(w), 40+i%60) || i != next[worker] {
			t.Fatalf("line %q mixed or out of order (want seq %d)", line, next[worker])
		}
		next[worker]++
	}
	if next["w1"] != perWorker || next["w2"] != perWorker {
		t.Fatalf("lines per worker %v, want %d each (dropped %d)", next, perWorker, l.Stats().Dropped)
	}
}

// TestFloodNeverExceedsCap floods a small log and samples its size while it
// rotates: the file never holds more than MaxSize plus one line.
func TestFloodNeverExceedsCap(t *testing.T) {
	const maxSize, maxLine = 32 << 10, 512
	l, path := open(t, Options{MaxSize: maxSize, MaxLine: maxLine})
	longest := int64(len("2026-11-24T06:15:02.123Z 1/w1 ") + maxLine + len(ContinuedMark) + 1)
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		s := l.Stream(1, "w1")
		defer s.Close()
		deadline := time.Now().Add(3 * time.Second)
		for i := 0; i < 200000 && time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%5000 == 0 {
				s.Write([]byte(strings.Repeat("h", 5000))) // a long line without newline
			}
			fmt.Fprintf(s, "line %d %s\n", i, strings.Repeat("z", i%300))
		}
	}()
	var biggest int64
	for sampling := true; sampling; {
		select {
		case <-flooded:
			sampling = false
		case <-time.After(time.Millisecond):
		}
		for _, p := range []string{path, path + ".1"} {
			if fi, err := os.Stat(p); err == nil {
				biggest = max(biggest, fi.Size())
			}
		}
	}
	close(stop)
	l.Close()
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		biggest = max(biggest, fi.Size())
		for _, line := range readLines(t, p) {
			if lineRE.FindStringSubmatch(line) == nil {
				t.Fatalf("%s: malformed line %q", p, line)
			}
		}
	}
	if biggest > maxSize+longest {
		t.Fatalf("file reached %d bytes, cap %d + one line %d", biggest, maxSize, longest)
	}
	if st := l.Stats(); st.Rotations == 0 {
		t.Fatalf("no rotation under flood: %+v", st)
	}
	t.Logf("largest file seen %d bytes (cap %d); stats %+v", biggest, maxSize, l.Stats())
}

// TestStalledDiskDropsInsteadOfBlocking points the log at a FIFO nobody
// reads, so the writer goroutine blocks as on a hung disk: writes must still
// return, counting drops, and the loss is reported once the disk recovers.
func TestStalledDiskDropsInsteadOfBlocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stalled.log")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	reader, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	l, err := Open(path, Options{QueueLines: 64, QueueBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan struct{})
	go func() {
		s := l.Stream(1, "flood")
		for i := 0; i < 20000; i++ { // ~2 MB against a 64 KB pipe and a 16 KB queue
			fmt.Fprintf(s, "line %d %s\n", i, strings.Repeat("y", 80))
		}
		s.Close()
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(20 * time.Second):
		t.Fatal("writes blocked behind a stalled disk")
	}
	if d := l.Stats().Dropped; d == 0 {
		t.Fatal("no line counted as dropped although the disk was stalled")
	}
	// The disk recovers: drain the FIFO so the writer can finish.
	syscall.SetNonblock(int(reader.Fd()), false)
	got := make(chan string, 1)
	go func() {
		data, _ := io.ReadAll(reader)
		got <- string(data)
	}()
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return after the disk recovered")
	}
	// Close the writer's end is done; our reader sees EOF once all is read.
	select {
	case out := <-got:
		if !strings.Contains(out, "procmon dropped ") {
			t.Fatalf("no drop report in the log (%d bytes)", len(out))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("reading the FIFO did not finish")
	}
}

func TestWritesAfterCloseAreDropped(t *testing.T) {
	l, _ := open(t, Options{})
	s := l.Stream(1, "w1")
	l.Close()
	if n, err := s.Write([]byte("late\n")); n != 5 || err != nil {
		t.Fatalf("Write after Close = %d, %v", n, err)
	}
	if l.Stats().Dropped != 1 {
		t.Fatalf("dropped = %d, want 1", l.Stats().Dropped)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("", Options{}); err == nil {
		t.Fatal("empty path accepted")
	}
	_, err := Open(filepath.Join(t.TempDir(), "missing", "app.log"), Options{})
	if err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("missing directory: %v", err)
	}
}

// TestWritePreformattedLines checks the io.Writer side used by a supervisor
// that stamps its own lines: lines pass unchanged, long ones are cut, and
// concurrent writers never interleave.
func TestWritePreformattedLines(t *testing.T) {
	l, path := open(t, Options{MaxLine: 100, QueueLines: 10000, QueueBytes: 8 << 20})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				fmt.Fprintf(l, "2026-11-24T06:00:00.000Z gen=1 worker=%d pid=9 | %s\n", w, strings.Repeat(strconv.Itoa(w), 20))
			}
		}(w)
	}
	wg.Wait()
	l.Write([]byte(strings.Repeat("L", 250))) // no newline, longer than MaxLine
	l.Close()
	lines := readLines(t, path)
	if len(lines) != 2000+3 {
		t.Fatalf("%d lines, want 2003", len(lines))
	}
	for _, line := range lines[:2000] {
		var w int
		if _, err := fmt.Sscanf(line, "2026-11-24T06:00:00.000Z gen=1 worker=%d pid=9 |", &w); err != nil ||
			!strings.HasSuffix(line, "| "+strings.Repeat(strconv.Itoa(w), 20)) {
			t.Fatalf("line changed or mixed: %q", line)
		}
	}
	// The last line of the last worker to finish is among the kept ones.
	lastLine := lines[1999]
	worker := lastLine[strings.Index(lastLine, "worker="):strings.Index(lastLine, " pid=")]
	mine := l.RecentFunc(3, func(s string) bool { return strings.Contains(s, worker+" ") })
	if len(mine) != 3 || mine[2] != lastLine {
		t.Fatalf("RecentFunc for %s = %q, want 3 lines ending with %q", worker, mine, lastLine)
	}
	if last := l.RecentFunc(1, nil); len(last) != 1 || last[0] != strings.Repeat("L", 250)[:250] {
		t.Fatalf("RecentFunc(1, nil) = %.40q", last)
	}
	want := []string{strings.Repeat("L", 100) + ContinuedMark, strings.Repeat("L", 100) + ContinuedMark, strings.Repeat("L", 50)}
	if fmt.Sprint(lines[2000:]) != fmt.Sprint(want) {
		t.Fatalf("long line cut as %q", lines[2000:])
	}
}

// TestGroupCanReadEveryFile: with GID the file procmon finds (even one it
// made private before), and each file a rotation starts, is mode 0640 in
// that group, so the deploy user in it can run `procmon logs`.
func TestGroupCanReadEveryFile(t *testing.T) {
	gid := 0
	if os.Geteuid() == 0 {
		gid = 65534
	} else if groups, _ := os.Getgroups(); len(groups) > 0 {
		for _, g := range groups {
			if g != 0 && g != os.Getegid() {
				gid = g
			}
		}
	}
	if gid == 0 {
		t.Skip("needs root, or a supplementary group to give the file to")
	}
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{MaxSize: 4 << 10, GID: gid})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		l.Line(1, "w1", fmt.Sprintf("line %d %s", i, strings.Repeat("x", 100)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Stats().Rotations == 0 {
		t.Fatal("no rotation: the test needs one")
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o640 || int(st.Gid) != gid {
			t.Errorf("%s: mode %v group %d, want 0640 and group %d", p, fi.Mode().Perm(), st.Gid, gid)
		}
	}
}
