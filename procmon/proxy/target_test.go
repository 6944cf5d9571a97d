package proxy

import "testing"

// TestTargetProblem: the request targets the screen refuses, each as
// nginx 1.22 answers it (400, or passed on as it came), found by sending
// them to it.
func TestTargetProblem(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		refused        bool
	}{
		{"GET", "/", false},
		{"GET", "/.", false},
		{"GET", "/a/..", false},
		{"GET", "/a/../x", false},
		{"GET", "/a/%2e%2e", false},
		{"GET", "/a/.%2E", false},
		{"GET", "/..x", false},
		{"GET", "/a/...", false},
		{"GET", "//x", false},
		{"GET", "/a%2fb", false},
		{"GET", "/a/..;/x", false},
		{"GET", "/x?../../..", false},
		{"GET", "/a/..?x", false},
		{"GET", "/a?%zz", false},
		{"GET", "/%252e%252e/x", false}, // decoded once only
		{"GET", `/x/..\..\y`, false},    // "\" is no separator
		{"GET", "http://other.test/x", false},
		{"GET", "http://other.test", false},
		{"OPTIONS", "*", false},
		{"GET", "/..", true},
		{"GET", "/.%2e/x", true},
		{"GET", "/%2f..%2f..%2fx", true},
		{"GET", "/a/..%2f..%2fx", true},
		{"GET", "/a/%2E%2E/%2e%2E/x", true},
		{"GET", "/a/%2e%2e/%2e%2e", true},
		{"GET", "/a/./../../x", true},
		{"GET", "/a//../../x", true},
		{"GET", "/a/b/../../../x", true},
		{"GET", "/%00", true},
		{"GET", "/x%00y", true},
		{"GET", "/%", true},
		{"GET", "/%2", true},
		{"GET", "/%zz", true},
		{"GET", "*", true},
		{"GET", "http://a@other.test/x", true},
		{"GET", "http://example.test/..", true},
		{"GET", "x", true},
	} {
		why := targetProblem([]byte(tc.method), []byte(tc.target))
		if (why != "") != tc.refused {
			t.Errorf("%s %s: %q, want refused %v", tc.method, tc.target, why, tc.refused)
		}
	}
}
