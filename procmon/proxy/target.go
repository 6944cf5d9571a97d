package proxy

import "bytes"

// Request targets (RFC 9112 section 3.2) the screen lets through: origin
// form (/path?query), absolute form (http://host/path) without userinfo,
// and "*" for OPTIONS only; CONNECT's authority form is refused before.
// In every form the path must not climb above the root, also when its
// dots or slashes are percent-encoded, nor hold an encoded NUL or a
// broken escape: nginx refuses those (400), because an app that maps
// paths to files would serve what lies outside its root, or stop at the
// NUL.

// targetProblem says what is wrong with a request target, or "" when
// nothing is.
func targetProblem(method, target []byte) string {
	switch {
	case target[0] == '/':
		return pathProblem(target)
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return "asterisk-form target for " + string(method)
		}
		return ""
	}
	_, rest, ok := bytes.Cut(target, []byte("://"))
	if !ok {
		return "request target in no form RFC 9112 defines"
	}
	authority := rest
	if i := bytes.IndexAny(rest, "/?#"); i >= 0 {
		authority, rest = rest[:i], rest[i:]
	} else {
		rest = nil
	}
	if bytes.IndexByte(authority, '@') >= 0 {
		return "userinfo in the target (RFC 9110 section 4.2.4)"
	}
	if len(rest) > 0 && rest[0] == '/' {
		return pathProblem(rest)
	}
	return ""
}

// pathProblem checks the path of an origin-form target (up to "?" or
// "#"), as nginx does: after %2e and %2f are read as "." and "/", no ".."
// may climb above the root (empty segments count for nothing, as nginx
// merges slashes); no %00 and no "%" without two hex digits may appear.
func pathProblem(target []byte) string {
	path := target
	if i := bytes.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if bytes.IndexByte(path, '%') < 0 && !bytes.Contains(path, []byte("/..")) {
		return "" // the common case: nothing to decode, no dot segment
	}
	depth, dots, other := 0, 0, false
	for i := 0; i <= len(path); i++ {
		c := byte('/')
		if i < len(path) {
			c = path[i]
		}
		if c == '%' {
			switch v, ok := unhex2(path[i+1:]); {
			case !ok:
				return "a \"%\" without two hex digits in the path"
			case v == 0:
				return "encoded NUL in the path"
			case v == '.', v == '/':
				c = v
				i += 2
			}
		}
		switch c {
		case '/':
			switch {
			case other || dots > 2:
				depth++
			case dots == 2:
				if depth--; depth < 0 {
					return "the path climbs above the root"
				}
			}
			dots, other = 0, false
		case '.':
			dots++
		default:
			other = true
		}
	}
	return ""
}

// unhex2 reads the two hex digits that start b.
func unhex2(b []byte) (byte, bool) {
	if len(b) < 2 {
		return 0, false
	}
	hi, ok1 := unhex(b[0])
	lo, ok2 := unhex(b[1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return c | 0x20 - 'a' + 10, true
	}
	return 0, false
}
