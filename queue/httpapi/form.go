package httpapi

import (
	"encoding/base64"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// readForm reads a multipart/form-data request (RFC 7578) into the
// request a JSON body would make: text fields by their JSON names (to, cc
// and bcc may repeat, as may tags), "header.NAME" for an extra header
// field, "metadata.KEY" for a metadata entry, and files
// as parts with a file name: "attachment" attached, "inline" inline with
// its Content-ID (or file name) as content_id. A file's bytes are sent
// as they are, without base64.
func readForm(r *http.Request, boundary string) (*sendRequest, error) {
	mr := multipart.NewReader(r.Body, boundary)
	req := &sendRequest{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return req, nil
		}
		if err != nil {
			return nil, formErr(err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, formErr(err)
		}
		if err := req.addPart(p, data, len(req.Attachments)); err != nil {
			return nil, err
		}
	}
}

func (req *sendRequest) addMetadata(name, k, v string) error {
	if req.Metadata == nil {
		req.Metadata = map[string]string{}
	}
	if _, dup := req.Metadata[k]; dup {
		return fieldErr(name, "given twice")
	}
	req.Metadata[k] = v
	return nil
}

// formErr keeps a body over the limit recognisable (413) and makes any
// other reading error a 400.
func formErr(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return fieldErr("multipart", "cannot read the form: %v", err)
}

func (req *sendRequest) addPart(p *multipart.Part, data []byte, n int) error {
	name := p.FormName()
	if p.FileName() != "" {
		a := attachment{Filename: p.FileName(), ContentType: p.Header.Get("Content-Type"),
			Content: base64.StdEncoding.EncodeToString(data)}
		switch name {
		case "attachment":
		case "inline":
			a.ContentID = strings.Trim(p.Header.Get("Content-Id"), "<>")
			if a.ContentID == "" {
				a.ContentID = a.Filename
			}
		default:
			return fieldErr(name, "unknown file field: use attachment or inline")
		}
		req.Attachments = append(req.Attachments, a)
		return nil
	}
	v := string(data)
	switch name {
	case "from":
		req.From = v
	case "to":
		req.To = append(req.To, v)
	case "cc":
		req.Cc = append(req.Cc, v)
	case "bcc":
		req.Bcc = append(req.Bcc, v)
	case "reply_to":
		req.ReplyTo = v
	case "subject":
		req.Subject = v
	case "text":
		req.Text = v
	case "html":
		req.HTML = v
	case "at_least_one":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fieldErr(name, "%q is not true or false", v)
		}
		req.AtLeastOne = &b
	case "require_tls":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fieldErr(name, "%q is not true or false", v)
		}
		req.RequireTLS = b
	case "deliver_after":
		req.DeliverAfter = v
	case "expire_at":
		req.ExpireAt = v
	case "tags":
		req.Tags = append(req.Tags, v)
	case "priority":
		req.Priority = v
	case "ignore_suppressions":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fieldErr(name, "%q is not true or false", v)
		}
		req.IgnoreSuppressions = b
	default:
		if k, ok := strings.CutPrefix(name, "metadata."); ok {
			return req.addMetadata(name, k, v)
		}
		h, ok := strings.CutPrefix(name, "header.")
		if !ok {
			return fieldErr(name, "unknown field")
		}
		if req.Headers == nil {
			req.Headers = map[string]string{}
		}
		if _, dup := req.Headers[h]; dup {
			return fieldErr(name, "given twice")
		}
		req.Headers[h] = v
	}
	return nil
}
