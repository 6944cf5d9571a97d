package main

import (
	"fmt"
	"io"

	"github.com/deploytool/deploy/internal/hint"
)

// usageError is a command line that does not parse.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Hint() string  { return e.hint }

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// printError prints err once, as `error: …`, then `hint: …` when some error
// in its chain carries a hint (internal/hint: the config reader, the SSH
// layer and the remote script's errors all do).
func printError(w io.Writer, err error) { hint.Print(w, err) }
