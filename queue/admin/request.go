package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Requests and responses of the API. Each operation is POST /v1/OP with one
// of the request types below as its JSON body.

// request is implemented by every request type: validate reports what is
// wrong with a decoded request before the queue sees it.
type request interface {
	validate() error
}

// listRequest is the body of POST /v1/list.
type listRequest struct {
	State  string `json:"state,omitempty"`  // a store.State name; "" any
	Domain string `json:"domain,omitempty"` // "" any
	After  string `json:"after,omitempty"`  // cursor: the next of the previous page
	Limit  int    `json:"limit,omitempty"`  // 0: DefaultPage; at most MaxPage
	Done   bool   `json:"done,omitempty"`   // include finished messages

	Sender         string    `json:"sender,omitempty"`    // envelope sender; "<>" the null sender
	Recipient      string    `json:"recipient,omitempty"` // one recipient's address
	ReceivedBefore time.Time `json:"received_before,omitzero"`
	ReceivedAfter  time.Time `json:"received_after,omitzero"`
	// Total asks for the number of all matching messages, every page
	// together (it costs a pass over the spool).
	Total bool `json:"total,omitempty"`
}

// listResponse is one page; Next is the cursor of the following page, ""
// on the last one.
type listResponse struct {
	Messages []Message `json:"messages"`
	Next     string    `json:"next,omitempty"`
	Total    *int      `json:"total,omitempty"` // when asked for
}

// idRequest is the body of get, headers, hold, release and delete.
type idRequest struct {
	ID string `json:"id"`
}

// flushRequest names exactly one of ID, Domain and All.
type flushRequest struct {
	ID     string `json:"id,omitempty"`
	Domain string `json:"domain,omitempty"`
	All    bool   `json:"all,omitempty"`
}

type flushResponse struct {
	Flushed int `json:"flushed"` // messages made due
}

type bouncesRequest struct {
	Since time.Time `json:"since,omitzero"` // RFC 3339; zero: the whole log
}

type messageResponse struct {
	Message Message `json:"message"`
}

type headersResponse struct {
	Headers string `json:"headers"`
}

type bouncesResponse struct {
	Bounces []Bounce `json:"bounces"`
}

// errorResponse is the body of every non-200 answer.
type errorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"` // machine-readable: see the code constants
}

// Error codes of errorResponse.
const (
	codeNotFound   = "not_found"
	codeBadRequest = "bad_request"
	codeTooLarge   = "too_large"
	codeInternal   = "internal"
	codeForbidden  = "forbidden"
)

// errRequestTooLarge is returned by decodeRequest for a body over
// MaxRequestBytes.
var errRequestTooLarge = errors.New("request body too large")

// sizedRequest is implemented by requests allowed more than
// MaxRequestBytes (a bulk request carrying many IDs).
type sizedRequest interface {
	maxBytes() int
}

// decodeRequest reads one JSON object from r into req and validates it. It
// rejects bodies over MaxRequestBytes, unknown fields and trailing data, so
// a typo in a field name ("domian") is an error rather than a silently
// broader flush. encoding/json matches field names case-insensitively;
// that leniency is accepted.
func decodeRequest(r io.Reader, req request) error {
	limit := MaxRequestBytes
	if sr, ok := req.(sizedRequest); ok {
		limit = sr.maxBytes()
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return fmt.Errorf("reading request: %w", err)
	}
	if len(body) > limit {
		return fmt.Errorf("request body over %d bytes: %w", limit, errRequestTooLarge)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty request body")
		}
		return fmt.Errorf("decoding request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decoding request: data after the JSON object")
	}
	return req.validate()
}

func (r *listRequest) validate() error {
	if r.State != "" {
		if _, ok := store.ParseState(r.State); !ok {
			return fmt.Errorf("unknown state %q (want queued, deferred, delivered, bounced or held)", r.State)
		}
	}
	if r.Domain != "" {
		if err := checkName("domain", r.Domain, maxDomainLen); err != nil {
			return err
		}
	}
	if r.After != "" {
		if err := checkName("after", r.After, maxIDLen); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"sender", r.Sender}, {"recipient", r.Recipient}} {
		if err := checkName(f.name, f.v, maxDomainLen+64); err != nil {
			return err
		}
	}
	if r.Limit < 0 || r.Limit > MaxPage {
		return fmt.Errorf("limit %d out of range 0..%d", r.Limit, MaxPage)
	}
	return nil
}

// filter is the store filter the request asks for, with one more message
// than the page so the server can tell whether another page follows.
func (r *listRequest) filter() (f store.Filter, page int) {
	page = r.Limit
	if page == 0 {
		page = DefaultPage
	}
	st, _ := store.ParseState(r.State)
	return store.Filter{State: st, Domain: r.Domain, After: r.After, Limit: page + 1, Done: r.Done,
		Sender: r.Sender, Recipient: r.Recipient, ReceivedBefore: r.ReceivedBefore, ReceivedAfter: r.ReceivedAfter}, page
}

func (r *idRequest) validate() error {
	if r.ID == "" {
		return errors.New("missing id")
	}
	return checkName("id", r.ID, maxIDLen)
}

func (r *flushRequest) validate() error {
	n := 0
	if r.ID != "" {
		n++
		if err := checkName("id", r.ID, maxIDLen); err != nil {
			return err
		}
	}
	if r.Domain != "" {
		n++
		if err := checkName("domain", r.Domain, maxDomainLen); err != nil {
			return err
		}
	}
	if r.All {
		n++
	}
	if n != 1 {
		return errors.New("flush needs exactly one of id, domain and all")
	}
	return nil
}

func (r *bouncesRequest) validate() error { return nil }

// checkName bounds an identifier and keeps control characters out of it, so
// a request can never smuggle a forged line into the daemon's log. (Invalid
// UTF-8 cannot get here: encoding/json replaces it with U+FFFD.)
func checkName(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s longer than %d bytes", field, max)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s contains a control character", field)
		}
	}
	return nil
}
