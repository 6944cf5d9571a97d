package config

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

var (
	shaPattern     = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)
	varNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// IsSHA reports whether ref looks like a (possibly abbreviated) commit sha:
// 7 to 40 hex digits.
func IsSHA(ref string) bool { return shaPattern.MatchString(ref) }

// NormalizeRef checks ref and returns what the server resolves: a leading
// "origin/" is dropped (classic deploy's `ref origin/master` means branch
// master of the origin). "" stays "": the origin's default branch (HEAD).
func NormalizeRef(ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	r := strings.TrimPrefix(ref, "origin/")
	if err := CheckRef(r); err != nil {
		return "", err
	}
	return r, nil
}

// CheckRef checks ref against git check-ref-format's rules for a branch,
// tag or refs/… name, or a 7–40 digit hex sha, and refuses a leading '-' so
// that git can never take it for an option.
func CheckRef(ref string) error {
	if err := checkRef(ref); err != nil {
		return fmt.Errorf("ref %w", err)
	}
	return nil
}

// checkRef is CheckRef's rule, its message without the key.
func checkRef(ref string) error {
	bad := func(why string) error {
		return fmt.Errorf("%q %s: give a branch, tag or commit sha", ref, why)
	}
	switch {
	case ref == "":
		return bad("is empty")
	case IsSHA(ref):
		return nil
	case strings.HasPrefix(ref, "-"):
		return bad("starts with '-'")
	case ref == "@":
		return bad("is '@'")
	case strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") || strings.Contains(ref, "//"):
		return bad("has an empty path component")
	case strings.HasSuffix(ref, "."):
		return bad("ends with '.'")
	case strings.Contains(ref, ".."):
		return bad("contains '..'")
	case strings.Contains(ref, "@{"):
		return bad("contains '@{'")
	}
	for _, c := range ref {
		if c < 0x20 || c == 0x7f {
			return bad("contains a control character (newline, tab, NUL…)")
		}
		if strings.ContainsRune(" ~^:?*[\\", c) {
			return bad(fmt.Sprintf("contains %q, which git refuses in ref names", c))
		}
	}
	for _, part := range strings.Split(ref, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return bad("has a component starting with '.' or ending with '.lock'")
		}
	}
	return nil
}

// CheckPath checks a directory or file on the server (the app's path, the
// procmon config): absolute, clean, not "/", without control characters
// (a newline or tab would break .deploys). `~` and a clean `~/dir` pass
// too: the login user's home on the server, which the remote script
// expands (the path key only; see IsHomePath).
func CheckPath(p string) error {
	if IsHomePath(p) {
		// ~ or ~/dir: the login user's home on the server (path key)
		if rest := p[1:]; rest != "" && path.Clean(rest) != rest {
			return fmt.Errorf("path %q is not clean: write it as %q", p, "~"+path.Clean(rest))
		}
		return checkControl("path", p)
	}
	switch {
	case p == "":
		return fmt.Errorf("path is empty: set path to the app's directory on the server, e.g. /var/www/app")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute: give the full directory, e.g. /var/www/app", p)
	case p == "/":
		return fmt.Errorf("path is '/': give the app's own directory, e.g. /var/www/app")
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean: write it as %q", p, path.Clean(p))
	}
	return checkControl("path", p)
}

// checkServerFile is CheckPath for a file on the server named by key,
// worded for a config error (the key is already in its prefix).
func checkServerFile(key, p, example string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q is not absolute; give the full path on the server, like %s", p, example)
	case path.Clean(p) != p:
		return fmt.Errorf("%q is not clean; write it as %q", p, path.Clean(p))
	case p == "/":
		return fmt.Errorf("%q is the root directory; give the %s file's path, like %s", p, key, example)
	}
	return nil
}

// CheckRelPath checks a path relative to a release (shared, restart-file):
// relative, no '.' or '..' components, no leading '-', no control
// characters. A trailing '/' is allowed (a shared directory).
func CheckRelPath(key, p string) error {
	if err := checkRelPath(p); err != nil {
		return fmt.Errorf("%s %w", key, err)
	}
	return checkControl(key, p)
}

// checkRelPath is CheckRelPath's rule, its message without the key: the
// config reader's errors name the key already.
func checkRelPath(p string) error {
	trimmed := strings.TrimSuffix(p, "/")
	switch {
	case trimmed == "":
		return fmt.Errorf("%q is an empty path: give a path relative to the release", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q is absolute: give it relative to the release", p)
	case strings.HasPrefix(p, "-"):
		return fmt.Errorf("%q starts with '-': prefix it with ./ or rename it", p)
	}
	for _, part := range strings.Split(trimmed, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("%q has an empty, '.' or '..' component: give a plain relative path inside the release", p)
		}
	}
	return nil
}

// CheckRepo checks the repo URL the server clones: not empty, no leading
// '-' (git would read an option such as --upload-pack=…), no control
// characters.
func CheckRepo(url string) error {
	switch {
	case url == "":
		return fmt.Errorf("repo is empty: set repo to the git URL the server fetches from")
	case strings.HasPrefix(url, "-"):
		return fmt.Errorf("repo %q starts with '-', which git would take as an option: give a URL or path", url)
	}
	return checkControl("repo", url)
}

// CheckVarName checks the name of a variable from the `env` key.
func CheckVarName(name string) error {
	if !varNamePattern.MatchString(name) {
		return fmt.Errorf("env variable name %q is not valid: use letters, digits and _, not starting with a digit", name)
	}
	return nil
}

// CheckField checks a value written into a .deploys or lock line (the user
// identity): no tab, newline or other control character.
func CheckField(key, v string) error { return checkControl(key, v) }

// CheckText checks free text passed as one argument (a hook command): only
// a NUL is impossible in an argument.
func CheckText(key, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%s contains a NUL byte: remove it", key)
	}
	return nil
}

func checkControl(key, v string) error {
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s %q contains a control character (newline, tab, NUL…): remove it", key, v)
		}
	}
	return nil
}
