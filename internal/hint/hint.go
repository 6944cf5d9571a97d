// Package hint gives errors a hint: the line that tells the person what to
// do about it. Both CLIs print an error once, at the top, as
//
//	error: <message>
//	hint: <what to do>
//
// Any error with a method Hint() string carries one (this package's Wrap,
// and typed errors such as a host key mismatch); Of finds it in a chain,
// and Print writes both lines, once per error of an errors.Join.
package hint

import (
	"fmt"
	"io"
	"strings"
)

// Hinter is an error that says what to do about it.
type Hinter interface {
	error
	Hint() string
}

// hinted is an error with a hint attached by Wrap.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }
func (e *hinted) Hint() string  { return e.hint }

// Wrap returns err with hint attached; its message is err's own, and
// errors.Is and errors.As see through it. A nil err stays nil; an empty
// hint returns err as is.
func Wrap(err error, hint string) error {
	if err == nil || hint == "" {
		return err
	}
	return &hinted{err: err, hint: hint}
}

// Errorf is fmt.Errorf with a hint: Wrap(fmt.Errorf(format, args...), hint).
func Errorf(hint, format string, args ...any) error {
	return Wrap(fmt.Errorf(format, args...), hint)
}

// Of returns the hint of the first error in err's chain that has one, or
// "". For a joined error it is the first child's hint.
func Of(err error) string {
	if err == nil {
		return ""
	}
	if h, ok := err.(interface{ Hint() string }); ok && h.Hint() != "" {
		return h.Hint()
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return Of(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if h := Of(e); h != "" {
				return h
			}
		}
	}
	return ""
}

// Print writes err as "error: …" lines, each message line its own, and
// the hint as a "hint: …" line after them. An errors.Join of several
// errors (a config with several problems) prints each with its own hint.
func Print(w io.Writer, err error) {
	if err == nil {
		return
	}
	_, hinter := err.(interface{ Hint() string })
	if j, ok := err.(interface{ Unwrap() []error }); ok && !hinter {
		for _, e := range j.Unwrap() {
			Print(w, e)
		}
		return
	}
	var b strings.Builder
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(&b, "error: %s\n", line)
	}
	if h := Of(err); h != "" {
		fmt.Fprintf(&b, "hint: %s\n", h)
	}
	_, _ = io.WriteString(w, b.String())
}
