package main

import (
	"errors"
	"fmt"
	"io"
)

// usageError is a command line that does not parse.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Hint() string  { return e.hint }

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// hinter is an error that knows what the user should do about it. Errors
// from the config reader, the SSH layer and the remote script implement it.
type hinter interface{ Hint() string }

// printError prints err once, as `error: …`, then `hint: …` when some error
// in its chain carries a hint.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "error: %v\n", err)
	var h hinter
	if errors.As(err, &h) && h.Hint() != "" {
		fmt.Fprintf(w, "hint: %s\n", h.Hint())
	}
}

// hintedError is a refusal that says what to do about it.
type hintedError struct{ msg, hint string }

func (e *hintedError) Error() string { return e.msg }
func (e *hintedError) Hint() string  { return e.hint }
