package proxy

import (
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/nginxtest"
)

// The conformance table's yardstick: where nginx defines how a proxy
// answers hostile bytes, procmon behaves the same or refuses loudly and
// says why. TestNginxConformance sends every case of refusals and passes
// to a real nginx (internal/nginxtest: the reverse proxy a careful user
// puts in front of an app) in front of the same recording worker, and
// checks nginx's answer against the table: where it differs, the case
// must be in nginxDifferences, which says what nginx does, what procmon
// does, and why procmon's answer is the one it gives. A new difference,
// or a listed one that no longer is, fails the test.

// nginxDifference is a case nginx answers differently from procmon.
type nginxDifference struct {
	nginx   string  // what nginx does
	procmon string  // what procmon does
	why     string  // the rule (RFC 9110, RFC 9112) or the safety reason procmon follows
	want    outcome // nginx's answer, checked, so that the entry is kept true
}

// Reasons shared by several differences.
const (
	whyBareLF = "RFC 9112 section 2.2 lets a recipient read a bare LF as a line end, not must; " +
		"procmon passes head lines on as they came, and a hop that does not split there reads " +
		"other header lines than procmon did (see \"TE hidden by bare LF\"): refused, nothing is read two ways"
	whyChunkLine = "RFC 9112 section 7.1: a chunk line is hex digits, then extensions that each start with \";\", " +
		"then CRLF (a bare LF is allowed in the head only, section 2.2); a lenient chunk parser is what " +
		"the \"funky chunks\" desyncs exploit, so procmon (Go's chunked reader) refuses"
	whyStrictLine = "RFC 9112 section 3: method SP target SP HTTP/d.d, exactly; the RFC warns that lenient " +
		"parsing of the request line can lead to request smuggling"
	whyNoHost = "this nginx has no server_name, so $host is empty and it sends no Host: the worker " +
		"refuses an HTTP/1.1 request without one; procmon gives the worker the address the client " +
		"connected to, the server's own name (RFC 9112 section 3.3)"
	whyHTTP09 = "HTTP/0.9 is no part of RFC 9112: its answer has no status line or header, nothing a " +
		"client can tell from a body; nginx passes it on (without Host here, so the worker refuses it " +
		"and nginx relays the bare text); procmon refuses at once instead of waiting for a head"
	whyMalformedField = "RFC 9110 section 5.1 and RFC 9112 section 5: a field line is a token, \":\", a value; " +
		"procmon refuses a line that is not one, as net/http does, where nginx drops or passes it"
	whyForwarded = "Forwarded (RFC 7239) makes the same claims as X-Forwarded-For; from a client procmon " +
		"does not trust, it is a forgery an app may believe, so procmon removes it; nginx passes it on " +
		"unless told to (proxy_set_header Forwarded \"\")"
)

// nginxDifferences, by case name.
var nginxDifferences = map[string]nginxDifference{
	"bare LF request line": {nginx: "200, passed on", procmon: "400", why: whyBareLF,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantTarget(t, s, "/") }}},
	"bare LF end of head": {nginx: "200, passed on", procmon: "400", why: whyBareLF,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantTarget(t, s, "/") }}},
	"TE vertical tab": {nginx: "501 (an unknown coding \"\\vchunked\")", procmon: "400", why: "both refuse; " +
		"procmon sees a control character in a field value, malformed (RFC 9110 section 5.5)",
		want: outcome{code: 501, closes: true}},
	"Host invalid on POST": {nginx: "passes Host a\\b on (the worker answers 400, the connection is kept)",
		procmon: "400 and close", why: "\"\\\" is not allowed in a host (RFC 9110 section 7.2, RFC 3986 " +
			"section 3.2.2); procmon checks Host before any worker sees it, rather than trusting every app " +
			"that builds a path or a URL from it",
		want: outcome{code: 400}},
	"CONNECT": {nginx: "400 (it has no authority-form target)", procmon: "405",
		why:  "the request is well formed; procmon is a gateway to one app and tunnels nothing (RFC 9110 sections 9.3.6, 15.5.6)",
		want: outcome{code: 400, closes: true}},
	"underscore refused": {nginx: "drops the header, 200", procmon: "400 with underscores = \"refuse\"",
		why:  "the option's point: refuse loudly; procmon's default drops the header as nginx does (the \"underscore header dropped\" passes)",
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantHeader(t, s, "X_forwarded_for", "") }}},
	"head over max_head": {nginx: "400 Request Header Or Cookie Too Large", procmon: "431",
		why:  "RFC 6585 section 5 defines 431 for this; both refuse and close",
		want: outcome{code: 400, closes: true}},
	"header name not a token": {nginx: "drops the header, 200", procmon: "400", why: whyMalformedField,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantHeader(t, s, "X(Y", "") }}},
	"header line without a colon": {nginx: "passes X-A on with an empty value, 200", procmon: "400", why: whyMalformedField,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantTarget(t, s, "/") }}},
	"HTTP/0.9 request line": {nginx: "an HTTP/0.9 answer (no status line)", procmon: "400", why: whyHTTP09,
		want: outcome{code: 0, closes: true}},
	"request line without a version": {nginx: "an HTTP/0.9 answer (no status line)", procmon: "400", why: whyHTTP09,
		want: outcome{code: 0, closes: true}},
	"two spaces in the request line": {nginx: "200, passed on", procmon: "400", why: whyStrictLine,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantTarget(t, s, "/") }}},
	"HTTP/1.10": {nginx: "200, passed on", procmon: "400", why: whyStrictLine,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantTarget(t, s, "/") }}},
	"chunk size, space, junk": {nginx: "200 (\" x\" read as an extension)", procmon: "400", why: whyChunkLine,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }}},
	"chunk size ends in bare LF": {nginx: "200", procmon: "400", why: whyChunkLine,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }}},
	"chunk extension ends in bare LF": {nginx: "200", procmon: "400", why: whyChunkLine,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }}},
	"chunk data ends in bare LF": {nginx: "200", procmon: "400", why: whyChunkLine,
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }}},
	"chunk size over 63 bits": {nginx: "400 at once (its parser stops at 2^63-1)", procmon: "408 after body_timeout",
		why: "Go's chunked reader takes any 16-hex-digit size and procmon waits for the bytes it announces, " +
			"within body_timeout, as for any body (procmon has no body cap); the size never reaches a worker, " +
			"which gets the body re-framed, so nothing can desync. Refusing at once would need procmon's own chunked reader",
		want: outcome{code: 400, closes: true}},
	"Trailer declares Content-Length": {nginx: "200, passes the Trailer header on", procmon: "400",
		why:  "a framing field is no trailer (RFC 9110 section 6.5.1); net/http refuses the declaration",
		want: outcome{code: 200, check: func(t *testing.T, s seen) { wantBody(t, s, "hello") }}},
	"client X-Forwarded-* replaced (GET)": {nginx: "passes the client's Forwarded on", procmon: "removes it", why: whyForwarded,
		want: outcome{code: 200, check: func(t *testing.T, s seen) {
			wantHeader(t, s, "X-Forwarded-For", "127.0.0.1", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "example.test", "Forwarded", "for=6.6.6.6")
		}}},
	"client X-Forwarded-* replaced (POST)": {nginx: "passes the client's Forwarded on", procmon: "removes it", why: whyForwarded,
		want: outcome{code: 200, check: func(t *testing.T, s seen) {
			wantHeader(t, s, "X-Forwarded-For", "127.0.0.1", "X-Forwarded-Proto", "http", "Forwarded", "for=6.6.6.6")
		}}},
	"HTTP/1.0 GET": {nginx: "passes it on without Host: the worker's 400", procmon: "200, Host is the address the client connected to",
		why: whyNoHost, want: outcome{code: 400, closes: true}},
	"OPTIONS *": {nginx: "400 (it has no asterisk-form target)", procmon: "200, from procmon itself",
		why:  "RFC 9110 section 9.3.7 defines OPTIONS * as a question to the server; net/http answers it, no worker sees it",
		want: outcome{code: 400, closes: true}},
}

// TestNginxConformance: see above. nginx is required under make test.
func TestNginxConformance(t *testing.T) {
	var rec recordingWorker
	worker, _ := startWorker(t, rec.serve)
	n := nginxtest.Start(t, nginxtest.Options{Upstream: worker.Listener.Addr().String(), LogLevel: "info"})
	run := func(t *testing.T, tc conformanceCase, want outcome) {
		d, listed := nginxDifferences[tc.name]
		if listed {
			want = d.want
		}
		logged := len(n.ErrorLog())
		got := probe(t, n.Addr, &rec, tc.raw)
		want.expect(t, got)
		switch {
		case !t.Failed():
			return
		case listed:
			t.Logf("nginxDifferences says nginx: %s; procmon: %s", d.nginx, d.procmon)
		default:
			t.Logf("a new difference from procmon's table: fix procmon, or list it in nginxDifferences with the reason")
		}
		t.Logf("nginx answered %s; its error log:\n%s", got, clip(n.ErrorLog()[logged:]))
	}
	cases := map[string]bool{}
	for _, tc := range refusals {
		cases[tc.name] = true
		t.Run("refusal/"+tc.name, func(t *testing.T) { run(t, tc, tc.refused()) })
	}
	for _, tc := range passes {
		cases[tc.name] = true
		t.Run("pass/"+tc.name, func(t *testing.T) { run(t, tc, tc.passed()) })
	}
	for name, d := range nginxDifferences {
		if !cases[name] {
			t.Errorf("nginxDifferences names %q, which is no case", name)
		}
		if d.nginx == "" || d.procmon == "" || d.why == "" {
			t.Errorf("nginxDifferences[%q] does not say what each does and why", name)
		}
	}
}

// clip shortens each line of an error log (nginx quotes the header lines
// it refused, which can be 40 KB).
func clip(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}
