package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytool/deploy/internal/testfs"
)

// TestFullDiskLeavesNoHalfLine: on a real full filesystem (a small
// tmpfs) a write goes up to the end of the file's last block and fails
// there. The lines that did not fit are dropped and counted, the one cut
// midway is taken off again (the next line would run into it and the
// log would hold one line made of two workers' halves), and once space is
// back the log goes on with whole lines and says how many were lost and
// why.
func TestFullDiskLeavesNoHalfLine(t *testing.T) {
	mnt := testfs.MountTmpfs(t, 64<<10)
	path := filepath.Join(mnt, "app.log")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	settled := func(want uint64) Stats {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := l.Stats()
			if st.Written+st.Dropped >= want {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("the writer took %d of %d lines in 10 s: %+v", st.Written+st.Dropped, want, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	s := l.Stream(1, "1")
	fmt.Fprintf(s, "before the disk filled up\n")
	settled(1)

	filler := filepath.Join(mnt, "filler")
	testfs.FillDisk(t, filler, 0)
	// 40 lines of 300 bytes: more than the room left in the file's last
	// block, so the write stops inside a line.
	for i := range 40 {
		fmt.Fprintf(s, "full %02d %s\n", i, strings.Repeat("x", 270))
	}
	st := settled(41)
	if st.Errors == 0 || !strings.Contains(st.LastError, "no space left on device") || st.Dropped == 0 {
		t.Fatalf("stats after writing to a full disk: %+v: want write errors (ENOSPC) and dropped lines", st)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data)%4096 == 0 && !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("the log ends mid-line at %d bytes, a block's end", len(data))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(s, "after space came back\n")
	s.Close()
	if err := l.Close(); err == nil {
		t.Errorf("Close: nil, want the last write error")
	}
	lines := readLines(t, path) // fails on a log that ends mid-line
	full := 0
	for _, line := range lines {
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a whole log line: %q", line)
		}
		if text := m[3]; strings.HasPrefix(text, "full ") {
			full++
			if len(text) != len("full 00 ")+270 {
				t.Errorf("a line cut or run into another: %q", text)
			}
		}
	}
	// The report is written as soon as the disk takes it: after the line
	// written once space came back, or just before it when the writer's
	// last retry of the report ran between the filler's removal and that
	// line (settled counts the lines before the retry).
	last, report := lines[len(lines)-2], lines[len(lines)-1]
	if strings.Contains(last, " 0/procmon dropped ") {
		last, report = report, last
	}
	if !strings.HasSuffix(last, " 1/1 after space came back") {
		t.Errorf("last line %q, want the line written after space came back", last)
	}
	want := fmt.Sprintf("procmon dropped %d lines: writing the log file failed (write %s: no space left on device)", 40-full, path)
	if !strings.HasSuffix(report, want) {
		t.Errorf("drop report %q, want it to end %q", report, want)
	}
	t.Logf("%d of 40 lines fitted before the disk was full", full)
}
