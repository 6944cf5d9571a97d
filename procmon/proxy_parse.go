package procmon

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The proxy's fast path reads request and answer heads itself. These
// parsers are deliberately narrow: a request that is not a plain one is
// not parsed further but handed, bytes untouched, to net/http's server
// (see proxy_server.go), which handles every corner of HTTP/1.x; an answer
// the fast path cannot frame safely is a 502.

// span is a range of a head's bytes.
type span struct{ start, end int }

func (s span) of(b []byte) []byte { return b[s.start:s.end] }

// plainRequest is what the fast path needs of a request head: a GET or
// HEAD in origin form, HTTP/1.1, with no body and nothing hop-by-hop but
// Connection: close or keep-alive.
type plainRequest struct {
	isHead  bool
	close   bool   // the client asked to close after this answer
	line    span   // the request line, without its CRLF
	host    span   // the Host header's value
	xff     []span // X-Forwarded-For values, in order
	proto   span   // the first X-Forwarded-Proto value; empty if none
	forward []span // header lines passed on unchanged, CRLF included
}

// parsePlainRequest parses head (the request line, header lines and the
// empty line, each ending in CRLF) into r, reusing r's slices. It returns
// false when the request is not a plain one.
func parsePlainRequest(head []byte, r *plainRequest) bool {
	*r = plainRequest{xff: r.xff[:0], forward: r.forward[:0]}
	end := bytes.Index(head, crlf)
	if end <= 0 || !parseRequestLine(head[:end], r) {
		return false
	}
	r.line = span{0, end}
	hosts := 0
	for pos := end + 2; ; {
		next := bytes.Index(head[pos:], crlf)
		if next < 0 {
			return false
		}
		if next == 0 {
			return hosts == 1 && pos+2 == len(head)
		}
		line := span{pos, pos + next + 2}
		pos += next + 2
		name, value, ok := splitHeaderLine(head[line.start : line.end-2])
		if !ok {
			return false
		}
		vs := span{line.start + value.start, line.start + value.end}
		switch kind := requestHeaderKind(name); kind {
		case reqHost:
			hosts++
			r.host = vs
			r.forward = append(r.forward, line)
		case reqConnection:
			if !r.connectionTokens(vs.of(head)) {
				return false
			}
		case reqXFF:
			r.xff = append(r.xff, vs)
		case reqXFProto:
			if r.proto.end == 0 {
				r.proto = vs
			}
		case reqDropped:
		case reqNotPlain:
			return false
		default:
			r.forward = append(r.forward, line)
		}
	}
}

var crlf = []byte("\r\n")

// parseRequestLine accepts "GET|HEAD SP /target SP HTTP/1.1".
func parseRequestLine(line []byte, r *plainRequest) bool {
	method, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return false
	}
	switch string(method) {
	case "GET":
	case "HEAD":
		r.isHead = true
	default:
		return false
	}
	target, proto, ok := bytes.Cut(rest, []byte{' '})
	if !ok || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// connectionTokens reads a request's Connection header: close and
// keep-alive are plain; a token naming other headers is not.
func (r *plainRequest) connectionTokens(v []byte) bool {
	for tok := range bytes.SplitSeq(v, []byte{','}) {
		switch tok = bytes.TrimSpace(tok); {
		case equalFold(tok, "close"):
			r.close = true
		case equalFold(tok, "keep-alive"), len(tok) == 0:
		default:
			return false
		}
	}
	return true
}

type reqHeaderKind int

const (
	reqOther reqHeaderKind = iota
	reqHost
	reqConnection
	reqXFF
	reqXFProto
	reqDropped  // replaced by the proxy: X-Forwarded-Host, Forwarded
	reqNotPlain // a body, an upgrade or another hop-by-hop header
)

func requestHeaderKind(name []byte) reqHeaderKind {
	switch {
	case len(name) < 2:
		return reqOther
	case equalFold(name, "Host"):
		return reqHost
	case equalFold(name, "Connection"):
		return reqConnection
	case equalFold(name, "X-Forwarded-For"):
		return reqXFF
	case equalFold(name, "X-Forwarded-Proto"):
		return reqXFProto
	case equalFold(name, "X-Forwarded-Host"), equalFold(name, "Forwarded"):
		return reqDropped
	}
	for _, h := range notPlainRequestHeaders {
		if equalFold(name, h) {
			return reqNotPlain
		}
	}
	return reqOther
}

var notPlainRequestHeaders = [...]string{
	"Content-Length", "Transfer-Encoding", "Upgrade", "Expect", "Te", "Trailer",
	"Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Http2-Settings",
}

// equalFold is bytes.EqualFold against a string, without converting.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x|0x20 != y|0x20 || (x|0x20 < 'a' || x|0x20 > 'z') && x != y {
			return false
		}
	}
	return true
}

// splitHeaderLine splits "Name: value" (no CRLF) into the name and the
// value's range with surrounding spaces and tabs trimmed. A line with an
// invalid name, a control character in the value, or a folded line is
// refused.
func splitHeaderLine(line []byte) (name []byte, value span, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, span{}, false
	}
	for _, c := range line[:colon] {
		if !isTokenChar(c) {
			return nil, span{}, false
		}
	}
	start, end := colon+1, len(line)
	for start < end && (line[start] == ' ' || line[start] == '\t') {
		start++
	}
	for end > start && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	for _, c := range line[start:end] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, span{}, false
		}
	}
	return line[:colon], span{start, end}, true
}

// isTokenChar: RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

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
	forward []span // header lines passed on unchanged, CRLF included
	drop    []span // names the Connection header lists
}

var errBadAnswer = errors.New("malformed answer from the worker")

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
