package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
)

// maxPooled bounds the bytes a pooled buffer may have held and still be
// kept: a rare large message must not pin its memory for the requests
// after it, which are mostly small.
const maxPooled = 256 << 10

// pools keep the buffers of POST /v1/messages for the next request, so
// that an accepted message costs the collector no more than it must: the
// JSON decoder's read buffer and the buffer the message is built in, which
// would otherwise be grown anew (by doubling, copying each time) for every
// request.
type pools struct {
	decoders sync.Pool // *jsonDecoder
	builds   sync.Pool // *build
}

// jsonDecoder is a strict decoder (unknown fields refused) that reads
// request bodies one after the other: each request sets src, and its
// buffer, grown once, serves the requests after it.
type jsonDecoder struct {
	dec *json.Decoder
	src bodySource
}

// bodySource is the body of the request being decoded, and how many bytes
// were read from it.
type bodySource struct {
	r io.Reader
	n int64
}

func (b *bodySource) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// decodeJSON decodes body, which must hold one JSON object and nothing
// else but white space (RFC 8259 §2), into a new request.
func (p *pools) decodeJSON(body io.Reader) (*sendRequest, error) {
	d, _ := p.decoders.Get().(*jsonDecoder)
	if d == nil {
		d = &jsonDecoder{}
		d.dec = json.NewDecoder(&d.src)
		d.dec.DisallowUnknownFields()
	}
	d.src = bodySource{r: body}
	var req sendRequest
	err := d.dec.Decode(&req)
	if err == nil {
		// Only io.EOF proves that nothing follows the object; More would
		// take a stray "}" or "]" for the end of the stream.
		if _, end := d.dec.Token(); end != io.EOF {
			err = fieldErr("", "the body must hold one JSON object")
		}
	}
	d.src.r = nil
	// A decoder that failed may hold a broken stream's state; one that
	// read a large body holds a large buffer. Neither is kept.
	if err == nil && d.src.n <= maxPooled {
		p.decoders.Put(d)
	}
	if err != nil {
		return nil, err
	}
	return &req, nil
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
