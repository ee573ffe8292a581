package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Problem is one invalid or unknown key.
type Problem struct {
	Key string // the full key, e.g. "listen.submission[1].address"
	Msg string // what is wrong, for the user
}

func (p Problem) Error() string { return p.Key + ": " + p.Msg }

// ValidationError lists every problem found in a configuration. Load,
// Validate and Check return it (as error) when there is at least one.
type ValidationError struct {
	File     string // the file read; "" for embedded defaults or a Config built in code
	Problems []Problem
}

func (e *ValidationError) Error() string {
	file := e.File
	if file == "" {
		file = "(defaults)"
	}
	if len(e.Problems) == 1 {
		return fmt.Sprintf("invalid configuration %s: %s", file, e.Problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration %s (%d problems):", file, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so errors.As can find a Problem.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// problems accumulates Problems; its zero value is ready to use.
type problems []Problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems as a *ValidationError, or nil when there are none.
func (ps problems) err(file string) error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{File: file, Problems: ps}
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyPart writes one part of a key as TOML would: bare when it can be,
// quoted otherwise ("example.org" is a single key with a dot).
func keyPart(s string) string {
	if bareKey.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}
