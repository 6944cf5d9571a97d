package proxy

import (
	"bytes"
	"net/http"
)

// The fast path serves plain requests itself (parse_request.go). Every
// other request head is screened here before anything else happens to
// it: what nginx refuses is answered with an error and the connection
// closed, before any worker sees a byte; what passes is rewritten (header
// names nginx drops, such as those with underscores, and an untrusted
// client's X-Forwarded-* left out) and then upgraded by the fast path or
// handed to net/http.

// screened is the verdict on a request head.
type screened struct {
	code    int    // an error to answer before closing; 0 when the request passes
	why     string // for the log
	head    []byte // the head to pass on when it passes
	upgrade bool   // an HTTP/1.1 request with an Upgrade header
	host    []byte // the Host header's value
	proto   bool   // a trusted client's X-Forwarded-Proto is in head
}

// headLimits are the screen's settings.
type headLimits struct {
	trusted           bool // the client may set X-Forwarded-*
	refuseUnderscores bool
}

func refuse(code int, why string) screened { return screened{code: code, why: why} }

// screenRequest checks head (request line, CRLF-ended header lines, the
// empty line) and writes the head to pass on into out's storage.
func screenRequest(head, out []byte, lim headLimits) screened {
	end := bytes.Index(head, crlf)
	if end <= 0 {
		return refuse(http.StatusBadRequest, "no request line")
	}
	http10, v := screenRequestLine(head[:end])
	if v.code != 0 {
		return v
	}
	out = append(out[:0], head[:end+2]...)
	var f headerFacts
	for pos := end + 2; pos < len(head)-2; {
		next := bytes.Index(head[pos:], crlf)
		line := head[pos : pos+next]
		pos += next + 2
		keep, v := f.screenLine(line, lim)
		if v.code != 0 {
			return v
		}
		if keep {
			out = append(append(out, line...), crlf...)
		}
	}
	if v := f.verdict(http10); v.code != 0 {
		return v
	}
	return screened{head: append(out, crlf...), upgrade: f.upgrade && !http10, host: f.host, proto: f.proto}
}

// screenRequestLine checks "METHOD SP target SP HTTP/1.x".
func screenRequestLine(line []byte) (http10 bool, v screened) {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, proto, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 {
		return false, refuse(http.StatusBadRequest, "malformed request line")
	}
	for _, c := range method {
		if !isTokenChar(c) {
			return false, refuse(http.StatusBadRequest, "malformed method")
		}
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return false, refuse(http.StatusBadRequest, "control or space in the target")
		}
	}
	switch {
	case len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' || !isDigit(proto[5]) || !isDigit(proto[7]):
		return false, refuse(http.StatusBadRequest, "malformed protocol")
	case proto[5] != '1':
		return false, refuse(http.StatusHTTPVersionNotSupported, "HTTP version "+string(proto))
	}
	// HTTP/1.2 and later minor versions are read as HTTP/1.1, the highest
	// procmon implements (RFC 9110 section 2.5), as nginx does.
	http10 = proto[7] == '0'
	switch string(method) {
	case "CONNECT", "TRACE":
		return false, refuse(http.StatusMethodNotAllowed, string(method)+" is not proxied")
	}
	if why := targetProblem(method, target); why != "" {
		return false, refuse(http.StatusBadRequest, why)
	}
	return http10, screened{}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// headerFacts is what the screen remembers across header lines.
type headerFacts struct {
	lengths, encodings, hosts int
	upgrade, proto            bool
	host                      []byte
}

// screenLine checks one header line (no CRLF) and says whether it is
// passed on.
func (f *headerFacts) screenLine(line []byte, lim headLimits) (keep bool, v screened) {
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		return false, refuse(http.StatusBadRequest, "folded header line (obs-fold)")
	}
	name, value, ok := splitHeaderLine(line)
	if !ok {
		return false, refuse(http.StatusBadRequest, "malformed header line")
	}
	val := value.of(line)
	switch {
	case !plainFieldName(name):
		if lim.refuseUnderscores && bytes.IndexByte(name, '_') >= 0 {
			return false, refuse(http.StatusBadRequest, "underscore in header name "+string(name))
		}
		return false, screened{} // dropped, as nginx drops it (ignore_invalid_headers)
	case equalFold(name, "Content-Length"):
		f.lengths++
		if _, ok := parseDigits(val); !ok || f.lengths > 1 {
			return false, refuse(http.StatusBadRequest, "invalid or repeated Content-Length")
		}
	case equalFold(name, "Transfer-Encoding"):
		f.encodings++
		if f.encodings > 1 || len(val) == 0 {
			return false, refuse(http.StatusBadRequest, "repeated or empty Transfer-Encoding")
		}
		if !equalFold(val, "chunked") {
			return false, refuse(http.StatusNotImplemented, "Transfer-Encoding other than chunked")
		}
	case equalFold(name, "Host"):
		f.hosts++
		if !validHost(val) || f.hosts > 1 {
			return false, refuse(http.StatusBadRequest, "invalid or repeated Host")
		}
		f.host = val
	case equalFold(name, "Upgrade"):
		f.upgrade = true
	case isForwardedHeader(name):
		f.proto = f.proto || lim.trusted && equalFold(name, "X-Forwarded-Proto")
		return lim.trusted, screened{}
	}
	return true, screened{}
}

// verdict checks what only the whole head shows.
func (f *headerFacts) verdict(http10 bool) screened {
	switch {
	case f.lengths > 0 && f.encodings > 0:
		return refuse(http.StatusBadRequest, "both Content-Length and Transfer-Encoding")
	case http10 && f.encodings > 0:
		return refuse(http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request")
	case !http10 && f.hosts == 0:
		return refuse(http.StatusBadRequest, "no Host")
	}
	return screened{}
}

// isForwardedHeader: the headers a client may only set through a trusted
// front proxy.
func isForwardedHeader(name []byte) bool {
	return equalFold(name, "X-Forwarded-For") || equalFold(name, "X-Forwarded-Proto") ||
		equalFold(name, "X-Forwarded-Host") || equalFold(name, "Forwarded")
}

// plainFieldName: a header name of letters, digits and "-" only. nginx
// (ignore_invalid_headers, underscores_in_headers off) drops any other,
// though RFC 9110 allows "_", "." and other token characters: app servers
// that map names to variables (CGI's HTTP_X_FORWARDED_FOR, Rack, WSGI)
// fold "_" and "-" together, so X_Forwarded_For would pass for procmon's
// own X-Forwarded-For.
func plainFieldName(name []byte) bool {
	for _, c := range name {
		if l := c | 0x20; (l < 'a' || l > 'z') && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// validHost accepts a Host value as nginx does: a name or an IP literal,
// an optional port, and nothing that could walk a path ("/", "\", "..").
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 || h[0] == '.' || bytes.Contains(h, []byte("..")) {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("-._~!$&'()*+,;=:[]%"), c) >= 0:
		default:
			return false
		}
	}
	return true
}
