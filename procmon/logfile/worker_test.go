package logfile

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// floodEnv makes the test binary act as a worker that floods its output.
const floodEnv = "PROCMON_LOGFILE_TEST_FLOOD"

func TestMain(m *testing.M) {
	if os.Getenv(floodEnv) != "" {
		flood()
		return
	}
	os.Exit(m.Run())
}

// flood writes lines to stdout, a 200 KB line without a newline now
// and then (50 times the test's MaxLine, but less than its MaxSize, so
// that the files always keep ordinary lines around it whenever the kill
// comes), and lines to stderr, for at most 10 s (the test kills it sooner).
func flood() {
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	huge := strings.Repeat("H", 200<<10)
	for i, end := 0, time.Now().Add(10*time.Second); time.Now().Before(end); i++ {
		if i%20000 == 5000 {
			out.WriteString(huge)
		}
		out.WriteString("out line " + strings.Repeat("o", i%200) + "\n")
		if i%100 == 0 {
			os.Stderr.WriteString("err line\n")
		}
	}
	out.Flush()
}

// TestRealFloodingWorker runs a real process that floods stdout and stderr
// into a small capped log and checks the cap holds at every moment and
// that both streams' lines arrive whole.
func TestRealFloodingWorker(t *testing.T) {
	const maxSize, maxLine = 256 << 10, 4 << 10
	l, path := open(t, Options{MaxSize: maxSize, MaxLine: maxLine})
	longest := int64(len("2026-11-24T06:15:02.123Z 2/w1 ") + maxLine + len(ContinuedMark) + 1)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), floodEnv+"=1")
	stdout, stderr := l.Stream(2, "w1"), l.Stream(2, "w1")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var biggest int64
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		for _, p := range []string{path, path + ".1"} {
			if fi, err := os.Stat(p); err == nil {
				biggest = max(biggest, fi.Size())
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait() // returns once the output copies finished: Write never blocked them
	stdout.Close()
	stderr.Close()
	l.Close()
	if biggest > maxSize+longest {
		t.Fatalf("log reached %d bytes, cap %d + one line %d", biggest, maxSize, longest)
	}
	seen := map[string]bool{}
	for _, p := range []string{path, path + ".1"} {
		lines := readLines(t, p)
		for i, line := range lines {
			m := lineRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("malformed line %.120q", line)
			}
			text := m[3]
			switch {
			case m[2] == "procmon" && strings.HasPrefix(text, "dropped "):
				seen["drop report"] = true
			case strings.HasPrefix(text, "out line "):
				seen["out"] = true
			case text == "err line":
				seen["err"] = true
			case strings.Trim(strings.TrimSuffix(text, ContinuedMark), "H") == "":
				seen["huge chunk"] = true // the last one unmarked when the kill came mid-line
			case strings.HasPrefix(strings.TrimLeft(text, "H"), "out line "):
				seen["huge end"] = true
			case p == path && i == len(lines)-1 && strings.HasPrefix("out line ", text):
				// The kill came mid-line: Close flushed what had arrived.
			default:
				t.Fatalf("line mixed from two writes: %.120q", line)
			}
		}
	}
	if !seen["out"] || !seen["err"] {
		t.Fatalf("lines seen %v, want both streams", seen)
	}
	t.Logf("largest file %d bytes (cap %d); %+v", biggest, maxSize, l.Stats())
}
