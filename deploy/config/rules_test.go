package config

import (
	"os/exec"
	"strings"
	"testing"
)

func TestCheckRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ref, err string
	}{
		{"main", ""},
		{"release/2026-11", ""},
		{"v1.2.3", ""},
		{"refs/tags/v1", ""},
		{"3f9c2ab", ""},
		{"3f9c2ab4e5f60718293a4b5c6d7e8f9012345678", ""},
		{"", "is empty"},
		{"-x", "starts with '-'"},
		{"--upload-pack=touch /tmp/x", "starts with '-'"},
		{"$(touch /tmp/x)", "contains"},
		{"`id`", ""}, // backticks are legal in ref names; they stay a quoted argument
		{"a;b", ""},  // same for ';': never shell text
		{"a b", "contains ' '"},
		{"a\nb", "control character"},
		{"a\x00b", "control character"},
		{"a..b", "contains '..'"},
		{"a~1", "contains '~'"},
		{"HEAD^", "contains '^'"},
		{"a:b", "contains ':'"},
		{"a@{1}", "contains '@{'"},
		{"@", "is '@'"},
		{"a/", "empty path component"},
		{"a//b", "empty path component"},
		{"a.lock", "'.lock'"},
		{"a/.b", "starting with '.'"},
		{"a.", "ends with '.'"},
	} {
		err := CheckRef(tc.ref)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("CheckRef(%q) = %v, want ok", tc.ref, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("CheckRef(%q) = %v, want error containing %q", tc.ref, err, tc.err)
		}
	}
}

func TestNormalizeRef(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "origin/master": "master", "v1": "v1", "origin/feat/x": "feat/x"} {
		got, err := NormalizeRef(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeRef("origin/-x"); err == nil {
		t.Error("NormalizeRef(origin/-x) accepted a leading '-'")
	}
}

func TestCheckPaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"abs", CheckPath("/var/www/app"), ""},
		{"empty", CheckPath(""), "is empty"},
		{"relative", CheckPath("var/www"), "not absolute"},
		{"root", CheckPath("/"), "is '/'"},
		{"unclean", CheckPath("/var/../etc"), "not clean"},
		{"newline", CheckPath("/srv/a\nb"), "control character"},
		{"subst", CheckPath("/srv/$(touch x)"), ""}, // legal directory name, passed quoted
		{"rel ok", CheckRelPath("shared", "log/"), ""},
		{"rel abs", CheckRelPath("shared", "/etc"), "absolute"},
		{"rel dotdot", CheckRelPath("shared", "a/../../etc"), "'..'"},
		{"rel dash", CheckRelPath("shared", "-rf"), "starts with '-'"},
		{"rel nl", CheckRelPath("restart-file", "a\nb"), "control character"},
		{"repo ok", CheckRepo("git@github.com:a/b.git"), ""},
		{"repo dash", CheckRepo("--upload-pack=touch /tmp/x"), "option"},
		{"repo nl", CheckRepo("a\nb"), "control character"},
		{"var ok", CheckVarName("NODE_ENV"), ""},
		{"var bad", CheckVarName("A;B"), "not valid"},
		{"var digit", CheckVarName("1A"), "not valid"},
		{"field tab", CheckField("user", "a\tb"), "control character"},
		{"text nul", CheckText("pre-deploy", "a\x00"), "NUL"},
		{"text nl", CheckText("pre-deploy", "make\nmake test"), ""},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: %v, want ok", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: %v, want error containing %q", tc.name, tc.err, tc.want)
		}
	}
}

// TestCheckRefAgreesWithGit compares CheckRef with `git check-ref-format
// --allow-onelevel` on names that are neither shas nor start with '-'
// (those two are our own rules).
func TestCheckRefAgreesWithGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, ref := range []string{
		"main", "feature/x", "v1.0", "a..b", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", `a\b`,
		"a b", "a/", "/a", "a//b", "a.", "a.lock", "a/.b", ".a", "@", "a@{b", "a@b", "x;$(id)`y`",
		"refs/tags/v1", "ünï", "a\tb", "a{b}", "a'b\"c", "a&b|c", "HEAD",
	} {
		gitOK := exec.Command("git", "check-ref-format", "--allow-onelevel", ref).Run() == nil
		ours := CheckRef(ref) == nil
		if gitOK != ours {
			t.Errorf("ref %q: git says ok=%v, CheckRef says ok=%v", ref, gitOK, ours)
		}
	}
}
