//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
	"os"
)

// isTerminal is false where Outbox does not handle terminals (it runs on
// Linux): passwd then reads a line, with echo.
func isTerminal(*os.File) bool { return false }

func readNoEcho(context.Context, *os.File, io.Writer, string) ([]byte, error) {
	return nil, errors.New("not supported on this system")
}
