package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
)

// parsed is a notice read back with the standard library only, the way a
// receiving mail client would.
type parsed struct {
	Header     mail.Header
	ReportType string
	Parts      []parsedPart
	PerMessage textproto.MIMEHeader   // the report's per-message fields
	Rcpts      []textproto.MIMEHeader // the report's per-recipient blocks
}

type parsedPart struct {
	Type        string // media type without parameters
	Params      map[string]string
	Description string
	Body        []byte // transfer-decoded
}

// checkLines verifies the wire rules every notice keeps: CRLF line ends only
// and no line over maxLine octets.
func checkLines(raw []byte) error {
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		return errors.New("output does not end in CRLF")
	}
	for i, line := range bytes.Split(raw[:len(raw)-2], []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			return fmt.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > maxLine {
			return fmt.Errorf("line %d is %d octets long", i+1, len(line))
		}
	}
	return nil
}

// parseNotice parses raw with net/mail and mime/multipart and reads the
// delivery-status part's field blocks with net/textproto.
func parseNotice(raw []byte) (*parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("net/mail: %w", err)
	}
	p := &parsed{Header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("top Content-Type: %w", err)
	}
	if mt != "multipart/report" {
		return nil, fmt.Errorf("top type %q, want multipart/report", mt)
	}
	p.ReportType = params["report-type"]
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("reading part %d: %w", len(p.Parts)+1, err)
		}
		pt, pparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return nil, fmt.Errorf("part %d Content-Type: %w", len(p.Parts)+1, err)
		}
		p.Parts = append(p.Parts, parsedPart{Type: pt, Params: pparams,
			Description: part.Header.Get("Content-Description"), Body: body})
	}
	if len(p.Parts) < 2 {
		return nil, fmt.Errorf("%d parts, want at least 2", len(p.Parts))
	}
	if want := "message/" + p.ReportType; p.Parts[1].Type != want {
		return nil, fmt.Errorf("second part is %q, want %q (the report-type)", p.Parts[1].Type, want)
	}
	blocks, err := readBlocks(p.Parts[1].Body)
	if err != nil {
		return nil, err
	}
	if len(blocks) < 2 {
		return nil, fmt.Errorf("report has %d field blocks, want per-message + recipients", len(blocks))
	}
	p.PerMessage, p.Rcpts = blocks[0], blocks[1:]
	return p, nil
}

// readBlocks reads the blank-line separated field blocks of a
// delivery-status body (RFC 3464 §2.1).
func readBlocks(body []byte) ([]textproto.MIMEHeader, error) {
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
	var blocks []textproto.MIMEHeader
	for {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			blocks = append(blocks, h)
		}
		if errors.Is(err, io.EOF) {
			return blocks, nil
		}
		if err != nil {
			return nil, fmt.Errorf("report fields: %w", err)
		}
	}
}

// squash strips all spaces (folding and any hard split included), to
// compare a value that may have been hard-split.
func squash(s string) string { return strings.ReplaceAll(s, " ", "") }

// mimeParams returns the notice's top-level media type and parameters.
func mimeParams(raw []byte) (string, map[string]string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", nil, err
	}
	return mime.ParseMediaType(msg.Header.Get("Content-Type"))
}
