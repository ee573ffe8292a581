package httpapi

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// maxPooled bounds the bytes a pooled buffer may have held and still be
// kept: a rare large message must not pin its memory for the requests
// after it, which are mostly small.
const maxPooled = 256 << 10

// pools keep the buffers of POST /v1/messages for the next request, so
// that an accepted message costs the collector no more than it must: the
// buffer the message is built in, which would otherwise be grown anew (by
// doubling, copying each time) for every request. The JSON decoder's read
// buffer is pooled by the JSON package itself (json.UnmarshalRead).
type pools struct {
	builds sync.Pool // *build
}

// decodeJSON decodes body, which must hold one JSON object and nothing
// else but white space (RFC 8259 §2), into a new request. It reads and
// scans the body once (encoding/json's Decoder scanned it twice, once to
// find the value's end and once to decode it). Member names match the
// fields case-insensitively, as encoding/json matched them; an unknown
// member is refused, and so are a member given twice and invalid UTF-8
// (RFC 8259 §8.1), which would otherwise be decoded by a guess.
func (p *pools) decodeJSON(body io.Reader) (*sendRequest, error) {
	var req sendRequest
	err := json.UnmarshalRead(body, &req,
		json.RejectUnknownMembers(true),
		json.MatchCaseInsensitiveNames(true))
	if err != nil {
		return nil, jsonFieldError(err)
	}
	return &req, nil
}

// jsonFieldError turns a decoding error about a member into a refusal
// naming the request field, as the API's other 400 answers do ("to",
// "attachments[0].content"); any other error (a read error such as the
// size limit, malformed JSON before or after the object) is returned as
// it is.
func jsonFieldError(err error) error {
	var se *json.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &se) && se.JSONPointer != "":
		if errors.Is(err, json.ErrUnknownName) {
			return fieldErr(fieldName(se.JSONPointer), "unknown field")
		}
		if se.Err == nil && se.GoType != nil {
			return fieldErr(fieldName(se.JSONPointer), "wrong type: want %s", se.GoType)
		}
	case errors.As(err, &syn) && syn.JSONPointer != "":
		if errors.Is(err, jsontext.ErrDuplicateName) {
			return fieldErr(fieldName(syn.JSONPointer), "given twice")
		}
		// Invalid UTF-8, a cut-off body: the member it happened in.
		return fieldErr(fieldName(syn.JSONPointer), "invalid JSON: %v", syn.Err)
	}
	return err
}

// fieldName spells a JSON Pointer (RFC 6901) as the API names fields:
// "/attachments/0/content" is "attachments[0].content". A number is an
// index except as a key of headers or metadata, the request's only maps.
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	prev := ""
	for tok := range p.Tokens() {
		switch {
		case isIndex(tok) && prev != "headers" && prev != "metadata":
			b.WriteString("[" + tok + "]")
		case b.Len() > 0:
			b.WriteString("." + tok)
		default:
			b.WriteString(tok)
		}
		prev = tok
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// build is the memory one message is built in: the message itself, whole
// so that its header is known before signing starts and written to the
// spool in one piece, and a chunk for copying text into writers that take
// bytes (writeText).
type build struct {
	msg   bytes.Buffer
	chunk [4 << 10]byte
}

// getBuild returns an empty build whose message buffer has room for at
// least size bytes.
func (p *pools) getBuild(size int) *build {
	b, _ := p.builds.Get().(*build)
	if b == nil {
		b = &build{}
	}
	b.msg.Reset()
	b.msg.Grow(size)
	return b
}

// putBuild keeps b for another message once nothing refers to its bytes.
func (p *pools) putBuild(b *build) {
	if b.msg.Cap() <= maxPooled {
		p.builds.Put(b)
	}
}
