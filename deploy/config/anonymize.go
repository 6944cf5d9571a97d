package config

import "strings"

// AnonymizeURL returns url without the user and password that git's own
// messages leave out (its transport_anonymize_url, transport.c: "unable
// to access 'https://github.com/…'"): deploy's messages, check and dry
// run show repo this way, so that a token in it
// (https://x-access-token:TOKEN@github.com/acme/app.git, or the token as
// the user) reaches no terminal or CI log. Two differences from git,
// both to show no less of what is needed and no more of a secret: an
// ssh user (git@github.com:acme/app.git, ssh://deploy@host/…) is kept,
// being a login name that the command needs and no secret (a password
// after it is removed); and the userinfo ends at the authority's last
// '@', not the URL's first, so that an unencoded '@' in a password
// leaves none of it. A local path is unchanged. (The server's mirror and
// each release's .git keep the URL as given, as a clone keeps it in
// .git/config.)
func AnonymizeURL(url string) string {
	i := strings.Index(url, "://")
	if i <= 0 {
		return url // a local path, or user@host:path (ssh)
	}
	scheme := url[:i]
	for _, c := range scheme {
		if !(c == '+' || c == '.' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return url
		}
	}
	rest := url[i+3:]
	auth := rest
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		auth = rest[:j] // an '@' past the first slash does not count
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return url
	}
	switch strings.ToLower(scheme) {
	case "http", "https", "ftp", "ftps":
	default:
		if !strings.Contains(auth[:at], ":") {
			return url // an ssh login name
		}
	}
	return scheme + "://" + rest[at+1:]
}
