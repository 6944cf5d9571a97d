package proxy

import (
	"bytes"
	"strings"
)

// The proxy's fast path reads request and answer heads itself. These
// parsers are deliberately narrow: a request that is not a plain one is
// not parsed further but handed, bytes untouched, to net/http's server
// (see server.go), which handles every corner of HTTP/1.x; an answer
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
			if !validHost(vs.of(head)) {
				return false
			}
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
	return pathProblem(target) == "" // else the screen refuses it
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
	case !plainFieldName(name):
		return reqNotPlain // "_", "." and the like: the screen drops or refuses it
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
