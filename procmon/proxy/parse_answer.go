package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// bodyFraming is how an answer's body ends.
type bodyFraming int

const (
	bodyNone       bodyFraming = iota // HEAD, 1xx, 204, 304
	bodyLength                        // Content-Length bytes
	bodyChunked                       // chunked, passed on as it is
	bodyUntilClose                    // the worker closes the connection
)

// workerAnswer is what the fast path needs of an answer head.
type workerAnswer struct {
	code    int
	status  span // the status line after "HTTP/1.x "
	framing bodyFraming
	length  int64
	reuse   bool   // the worker keeps the connection open after it
	closes  bool   // the worker said Connection: close
	hasDate bool   // the answer has a Date header
	events  bool   // Content-Type: text/event-stream
	forward []span // header lines passed on unchanged, CRLF included
	drop    []span // names the Connection header lists
}

var errBadAnswer = errors.New("malformed answer from the worker")

// eventStream is the media type of server-sent events.
const eventStream = "text/event-stream"

// parseWorkerAnswer parses an answer head (status line, header lines, empty
// line) to a request that was a HEAD when isHead is set.
func parseWorkerAnswer(head []byte, isHead bool, a *workerAnswer) error {
	*a = workerAnswer{forward: a.forward[:0], drop: a.drop[:0], length: -1}
	end := bytes.Index(head, crlf)
	if end < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) || (head[7] != '0' && head[7] != '1') || head[8] != ' ' {
		return fmt.Errorf("%w: status line %q", errBadAnswer, head[:max(end, 0)])
	}
	code, err := strconv.Atoi(string(head[9:12]))
	if err != nil || code < 100 || code > 999 || (end > 12 && head[12] != ' ') {
		return fmt.Errorf("%w: status line %q", errBadAnswer, head[:end])
	}
	for _, c := range head[12:end] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("%w: control character in status line %q", errBadAnswer, head[:end])
		}
	}
	a.code, a.status, a.reuse = code, span{9, end}, head[7] == '1'
	chunked, err := a.readHeaders(head, end+2)
	if err != nil {
		return err
	}
	a.framing = answerFraming(code, isHead, chunked, a.length)
	// Transfer-Encoding in an HTTP/1.0 answer may be faulty framing
	// (RFC 9112 section 6.1): close the connection after it.
	if a.framing == bodyUntilClose || a.closes || chunked && head[7] == '0' {
		a.reuse = false
	}
	return nil
}

// readHeaders reads the header lines from pos, and reports whether the
// body is chunked.
func (a *workerAnswer) readHeaders(head []byte, pos int) (chunked bool, err error) {
	var lines []span
	for {
		next := bytes.Index(head[pos:], crlf)
		if next < 0 {
			return false, fmt.Errorf("%w: unterminated head", errBadAnswer)
		}
		if next == 0 {
			break
		}
		line := span{pos, pos + next + 2}
		pos += next + 2
		name, value, ok := splitHeaderLine(head[line.start : line.end-2])
		if !ok {
			return false, fmt.Errorf("%w: header line %q", errBadAnswer, head[line.start:line.end-2])
		}
		v := head[line.start+value.start : line.start+value.end]
		switch {
		case equalFold(name, "Content-Length"):
			n, ok := parseDigits(v)
			if !ok || (a.length >= 0 && n != a.length) {
				return false, fmt.Errorf("%w: Content-Length %q", errBadAnswer, v)
			}
			a.length = n
		case equalFold(name, "Transfer-Encoding"):
			if !equalFold(v, "chunked") || chunked {
				return false, fmt.Errorf("%w: Transfer-Encoding %q", errBadAnswer, v)
			}
			chunked = true
		case equalFold(name, "Connection"):
			a.connectionTokens(head, line.start+value.start, line.start+value.end)
			continue
		case isHopHeader(name):
			continue
		case equalFold(name, "Date"):
			a.hasDate = true
		case equalFold(name, "Content-Type"):
			a.events = len(v) >= len(eventStream) && equalFold(v[:len(eventStream)], eventStream)
		}
		lines = append(lines, line)
	}
	if chunked && a.length >= 0 {
		return false, fmt.Errorf("%w: both Content-Length and chunked", errBadAnswer)
	}
	for _, l := range lines {
		if !a.dropped(head, l) {
			a.forward = append(a.forward, l)
		}
	}
	return chunked, nil
}

// connectionTokens reads the Connection header's value, head[start:end]:
// close ends reuse (whatever else it says), keep-alive keeps an HTTP/1.0
// connection, and any other token names a header to drop.
func (a *workerAnswer) connectionTokens(head []byte, start, end int) {
	for start < end {
		stop := start + bytes.IndexByte(head[start:end], ',')
		if stop < start {
			stop = end
		}
		ts, te := start, stop
		for ts < te && (head[ts] == ' ' || head[ts] == '\t') {
			ts++
		}
		for te > ts && (head[te-1] == ' ' || head[te-1] == '\t') {
			te--
		}
		switch tok := head[ts:te]; {
		case equalFold(tok, "close"):
			a.closes = true
		case equalFold(tok, "keep-alive"):
			a.reuse = true
		case equalFold(tok, "Content-Length"), equalFold(tok, "Transfer-Encoding"):
			// The body is framed by these: the client needs them.
		case len(tok) > 0:
			a.drop = append(a.drop, span{ts, te})
		}
		start = stop + 1
	}
}

func (a *workerAnswer) dropped(head []byte, line span) bool {
	name, _, _ := bytes.Cut(line.of(head), []byte{':'})
	for _, d := range a.drop {
		if bytes.EqualFold(name, d.of(head)) {
			return true
		}
	}
	return false
}

// isHopHeader: the hop-by-hop answer headers a proxy must not pass on
// (Transfer-Encoding and Connection are handled by the caller).
func isHopHeader(name []byte) bool {
	for _, h := range [...]string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Upgrade"} {
		if equalFold(name, h) {
			return true
		}
	}
	return false
}

// answerFraming: RFC 9112 section 6.3, for an answer to a GET or HEAD.
func answerFraming(code int, isHead, chunked bool, length int64) bodyFraming {
	switch {
	case isHead, code < 200, code == 204, code == 304:
		return bodyNone
	case chunked:
		return bodyChunked
	case length >= 0:
		return bodyLength
	}
	return bodyUntilClose
}

// parseDigits reads a Content-Length: decimal digits only (no sign, no
// spaces), at most 18 of them.
func parseDigits(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// chunkSize reads a chunk-size line: hex digits, then extensions.
func chunkSize(line []byte) (int64, error) {
	hex := bytes.TrimRight(line[:len(line)-2], " \t")
	if i := bytes.IndexByte(hex, ';'); i >= 0 {
		hex = bytes.TrimRight(hex[:i], " \t")
	}
	if len(hex) == 0 || len(hex) > 15 {
		return 0, fmt.Errorf("%w: chunk size %q", errBadAnswer, hex)
	}
	var n int64
	for _, c := range hex {
		d, ok := hexDigit(c)
		if !ok {
			return 0, fmt.Errorf("%w: chunk size %q", errBadAnswer, hex)
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
