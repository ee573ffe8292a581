package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
)

// runQueueCat prints a stored message as it is sent, the daemon's prefix
// (its header fields, a DKIM signature) and the body, as postcat -q does;
// --headers prints the header block only, --body what follows it.
func runQueueCat(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "queue cat")
	headers := a.fs.Bool("headers", false, "print the header block only")
	body := a.fs.Bool("body", false, "print the body only")
	id, code, ok := a.parseID(args)
	if !ok {
		return code
	}
	if *headers && *body {
		return a.usageError("give at most one of --headers and --body")
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	rc, err := cl.Cat(ctx, id)
	if err != nil {
		return a.fail(err, id)
	}
	defer rc.Close()
	part := partAll
	switch {
	case *headers:
		part = partHeaders
	case *body:
		part = partBody
	}
	if err := copyPart(c.stdout, rc, part); err != nil {
		return a.fail(err, id)
	}
	return exitOK
}

// The parts of a message copyPart can print.
const (
	partAll = iota
	partHeaders
	partBody
)

// copyPart copies from r to w the whole message, its header block (up to,
// not including, the first empty line: RFC 5322 §2.1) or its body (after
// that line). Line endings are copied as stored.
func copyPart(w io.Writer, r io.Reader, part int) error {
	if part == partAll {
		_, err := io.Copy(w, r)
		return err
	}
	br := bufio.NewReader(r)
	continued := false // line is the rest of a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if part == partHeaders {
				if _, werr := w.Write(line); werr != nil {
					return werr
				}
			}
			continued = true
			continue
		}
		empty := !continued && len(line) > 0 && len(bytes.TrimRight(line, "\r\n")) == 0
		continued = false
		if empty {
			if part == partBody {
				_, err := io.Copy(w, br)
				return err
			}
			return nil
		}
		if part == partHeaders {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the message: %w", err)
		}
	}
}
