package config

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Error is a problem in a config file, at a line and, where there is
// one, a key. Its message has the form `<file>:<line>: <key>: <problem>`;
// the problem says what to do where there is something to say.
type Error struct {
	// File is the config file's path as it was given.
	File string
	// Line is the 1-based line of the problem (0 = the file as a whole).
	Line int
	// Key is the config key concerned ("" = none, e.g. a syntax error).
	Key string
	// Problem describes what is wrong and, where useful, what to do.
	Problem string
}

// Error returns the message in the `<file>:<line>: <key>: <problem>` form.
func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return pos + ": " + e.Problem
	}
	return pos + ": " + printableKey(e.Key) + ": " + e.Problem
}

// configErrf builds an Error; the problem is formatted like fmt.Sprintf.
func configErrf(file string, line int, key, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Key: key, Problem: fmt.Sprintf(format, args...)}
}

// printableKey returns key as is when it is made of the characters keys are
// made of, and quoted otherwise, so that a hostile key cannot forge lines.
func printableKey(key string) string {
	for _, r := range key {
		if !isKeyRune(r) {
			return strconv.Quote(key)
		}
	}
	return key
}

func isKeyRune(r rune) bool {
	return r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// checkText rejects what may appear in no config value: newlines, NUL bytes,
// other control characters (tab excepted) and invalid UTF-8.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8; save the file as UTF-8")
	}
	for _, r := range s {
		switch {
		case r == '\n':
			return fmt.Errorf("contains a newline; values are one line")
		case r == '\r':
			return fmt.Errorf("contains a carriage return; values are one line")
		case r == 0:
			return fmt.Errorf("contains a NUL byte")
		case r == '\t':
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("contains the control character %U", r)
		}
	}
	return nil
}
