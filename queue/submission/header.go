package submission

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// atLeastOneHeader lets a client override the at-least-one delivery policy
// for one message. go-smtp refuses unknown MAIL parameters (500 5.5.4), so
// the override travels as a header, which the listener removes before the
// message is stored.
const atLeastOneHeader = "X-Outbox-At-Least-One"

// headerField is one header field as received, continuation lines included,
// with its line ends.
type headerField struct {
	name string // as written, without the colon
	raw  []byte
}

// header is the parsed header block of a message.
type header struct {
	fields []headerField
	// blank is true when the block ended with the empty separator line.
	blank bool
	// first is the first body line when the block ended on a line that is
	// neither a field nor a continuation (a message without the empty
	// separator line); the writer puts the missing separator before it.
	first []byte
}

// errHeaderTooBig is returned by readHeader when the block exceeds its limit.
var errHeaderTooBig = errors.New("header block too big")

// readHeader reads the header block (RFC 5322 §2.2) from br, reading no
// further than its end, and at most max bytes. It never reads the body, so a
// large message streams through without being buffered.
func readHeader(br *bufio.Reader, max int) (header, error) {
	var h header
	used := 0
	for {
		line, err := readLine(br, max-used)
		if err != nil && err != io.EOF {
			return h, err
		}
		used += len(line)
		if len(line) == 0 {
			return h, nil // EOF: a message with a header and no body
		}
		switch {
		case bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")):
			h.blank = true
			return h, nil
		case line[0] == ' ' || line[0] == '\t':
			if len(h.fields) == 0 {
				h.first = line
				return h, nil
			}
			f := &h.fields[len(h.fields)-1]
			f.raw = append(f.raw, line...)
		default:
			name, ok := fieldName(line)
			if !ok {
				h.first = line
				return h, nil
			}
			h.fields = append(h.fields, headerField{name: name, raw: line})
		}
		if err == io.EOF {
			return h, nil
		}
	}
}

// readLine returns the next line including its LF, or what is left before
// EOF (with io.EOF). A line longer than max fails with errHeaderTooBig.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errHeaderTooBig
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// fieldName returns the field name of a header line: printable ASCII
// other than the colon, at least one character, then the colon
// (RFC 5322 §2.2, ftext).
func fieldName(line []byte) (string, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", false
	}
	for _, c := range line[:i] {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(line[:i]), true
}

// has reports whether the header has a field called name (case-insensitive).
func (h *header) has(name string) bool {
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// value returns the unfolded value of the first field called name, or "".
func (h *header) value(name string) string {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, name) {
			return h.fields[i].value()
		}
	}
	return ""
}

// names lists the field names of the stored header: the Received field
// the listener adds, the client's fields, then the extra ones.
func (h *header) names(extra []string) []string {
	out := make([]string, 0, len(h.fields)+len(extra)+1)
	out = append(out, "Received")
	for _, f := range h.fields {
		out = append(out, f.name)
	}
	for _, e := range extra {
		name, _, _ := strings.Cut(e, ":")
		out = append(out, name)
	}
	return out
}

// value returns the unfolded, trimmed value of a field.
func (f *headerField) value() string {
	v := f.raw[len(f.name)+1:]
	if i := bytes.IndexByte(v, '\n'); i < 0 || i == len(v)-1 {
		// Not folded: its line end is white space that TrimSpace drops.
		return string(bytes.TrimSpace(v))
	}
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// takeAtLeastOne removes every X-Outbox-At-Least-One field from h and returns
// the override: nil when absent. Values other than yes/no, or contradicting
// fields, are an error whose text is meant for the client.
func (h *header) takeAtLeastOne() (*bool, error) {
	var v *bool
	kept := h.fields[:0]
	for _, f := range h.fields {
		if !strings.EqualFold(f.name, atLeastOneHeader) {
			kept = append(kept, f)
			continue
		}
		var b bool
		switch strings.ToLower(f.value()) {
		case "yes":
			b = true
		case "no":
			b = false
		default:
			return nil, errors.New(atLeastOneHeader + ` must be "yes" or "no"`)
		}
		if v != nil && *v != b {
			return nil, errors.New("conflicting " + atLeastOneHeader + " fields")
		}
		v = &b
	}
	clear(h.fields[len(kept):])
	h.fields = kept
	return v, nil
}

// writeTo writes the header block (with extra fields after the original
// ones) and whatever body bytes readHeader already consumed.
func (h *header) writeTo(w io.Writer, extra []string) error {
	var buf bytes.Buffer
	for i, f := range h.fields {
		buf.Write(f.raw)
		// Only the last field can lack its line end (a BDAT message that
		// ends inside the header); close it before adding fields.
		if i == len(h.fields)-1 && len(extra) > 0 && !bytes.HasSuffix(f.raw, []byte("\n")) {
			buf.WriteString("\r\n")
		}
	}
	for _, e := range extra {
		buf.WriteString(e)
	}
	switch {
	case h.blank:
		buf.WriteString("\r\n")
	case h.first != nil:
		buf.WriteString("\r\n")
		buf.Write(h.first)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
