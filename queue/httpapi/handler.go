package httpapi

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// sendResponse is the 202 answer.
type sendResponse struct {
	ID         string         `json:"id"`
	Recipients []rcptResponse `json:"recipients"`
}

type rcptResponse struct {
	Address string `json:"address"`
	State   string `json:"state"`
}

// errorResponse is every refusal's body.
type errorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// postMessage is POST /v1/messages.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	who := client(r.Context())
	idem, err := idempotencyKey(r, who)
	if err != nil {
		s.refuse(w, err)
		return
	}
	req, err := s.decode(w, r)
	if err != nil {
		s.badJSON(w, err)
		return
	}
	if idem != nil {
		// The request as decoded, not its bytes: a retried form has a new
		// boundary, a retried JSON body may be spaced anew.
		canon, _ := json.Marshal(req)
		idem.request = sha256.Sum256(canon)
	}
	p, err := req.check(s.opts.MaxRecipients)
	if err != nil {
		s.refuse(w, err)
		return
	}
	if p.opts, err = req.options(s.opts.Now(), s.opts.MaxHold); err != nil {
		s.refuse(w, err)
		return
	}
	acc, err := s.spool(r.Context(), req, p, r.RemoteAddr, who, idem)
	if err != nil {
		s.refuse(w, err)
		return
	}
	s.answer(w, acc, idem, r.RemoteAddr, who, len(p.rcpts))
}

// errMediaType refuses a body that is neither JSON nor a form.
var errMediaType = errors.New("the request body must be application/json or multipart/form-data")

// decode reads the request body, JSON or multipart/form-data, within the
// size limit.
func (s *Server) decode(w http.ResponseWriter, r *http.Request) (*sendRequest, error) {
	ct, params := r.Header.Get("Content-Type"), map[string]string(nil)
	if strings.EqualFold(ct, "application/json") {
		ct = "application/json" // the usual request: no parameter map to make
	} else {
		ct, params, _ = mime.ParseMediaType(ct)
	}
	switch ct {
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxMessageSize+64<<10)
		return readForm(r, params["boundary"])
	case "application/json":
	default:
		return nil, errMediaType
	}
	// base64 grows content by a third; the JSON around it is small. The
	// decoder reads the body itself: reading it whole first would copy
	// every request once more.
	return s.pools.decodeJSON(http.MaxBytesReader(w, r.Body, s.opts.MaxMessageSize/3*4+64<<10))
}

// answer sends the 202 of a committed message, or, for a retry, the first
// answer again (409 when the key came with another request).
func (s *Server) answer(w http.ResponseWriter, acc *accepted, idem *idemKey, remote, who string, rcpts int) {
	if prior := acc.Prior; prior != nil {
		if prior.Request != idem.request {
			writeError(w, http.StatusConflict, "Idempotency-Key", "this key was used with another request")
			return
		}
		s.log.Info("idempotent retry", "client", remote, "user", who)
		w.Header().Set("Idempotent-Replayed", "true")
		writeRaw(w, http.StatusAccepted, prior.Response)
		return
	}
	s.log.Info("accepted", "msgid", acc.ID, "client", remote, "user", who, "rcpts", rcpts)
	writeRaw(w, http.StatusAccepted, acc.Response)
}

// maxIdempotencyKey bounds the Idempotency-Key header; UUIDs and hashes
// fit with room to spare.
const maxIdempotencyKey = 255

// idempotencyKey reads the Idempotency-Key header (nil when absent). Keys
// are per client: two keys' holders may pick the same value.
func idempotencyKey(r *http.Request, who string) (*idemKey, error) {
	v := r.Header.Values("Idempotency-Key")
	if len(v) == 0 {
		return nil, nil
	}
	k := v[0]
	if len(v) > 1 || k == "" || len(k) > maxIdempotencyKey || strings.IndexFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		return nil, fieldErr("Idempotency-Key", "must be one value of 1 to %d printable ASCII characters", maxIdempotencyKey)
	}
	return &idemKey{key: who + "\x00" + k}, nil
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// badJSON answers a body that does not decode, naming the field when the
// decoder does.
func (s *Server) badJSON(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var fe *fieldError
	switch {
	case errors.Is(err, errMediaType):
		writeError(w, http.StatusUnsupportedMediaType, "", err.Error())
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.field, fe.msg)
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request is over %d bytes", tooBig.Limit))
	case errors.As(err, &typeErr):
		writeError(w, http.StatusBadRequest, typeErr.Field, fmt.Sprintf("wrong type: want %s", typeErr.Type))
	default:
		field := ""
		const unknown = "json: unknown field "
		if msg := err.Error(); len(msg) > len(unknown) && msg[:len(unknown)] == unknown {
			field = msg[len(unknown)+1 : len(msg)-1]
			writeError(w, http.StatusBadRequest, field, "unknown field")
			return
		}
		writeError(w, http.StatusBadRequest, "", "invalid JSON: "+err.Error())
	}
}

// refuse answers a request that cannot be accepted; internal errors are
// logged, not sent.
func (s *Server) refuse(w http.ResponseWriter, err error) {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.field, fe.msg)
	case errors.Is(err, errTooBig), errors.Is(err, store.ErrTooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the message is over %d bytes", s.opts.MaxMessageSize))
	case errors.Is(err, store.ErrNoSpace):
		s.log.Error("spool full", "err", err)
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusInsufficientStorage, "", "the spool is full; retry later")
	default:
		s.log.Error("cannot spool", "err", err)
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "", "the message could not be stored; retry later")
	}
}

func writeError(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, errorResponse{Error: msg, Field: field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// addMissing writes the Date and Message-ID fields a raw message lacks
// (RFC 5322 §3.6 requires Date; Message-ID lets replies and bounces name
// it), as the SMTP listener adds them, and returns the facts of the
// header: it is the one parse of the raw message's header.
func addMissing(w io.Writer, raw []byte, id, hostname string, now time.Time) (headerFacts, error) {
	hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return headerFacts{}, fieldErr("raw", "header does not parse: %v", err)
	}
	f := headerFacts{messageID: hdr.Get("Message-Id"), tlsRequired: hdr.Get("TLS-Required")}
	if hdr.Get("Date") == "" {
		if _, err := fmt.Fprintf(w, "Date: %s\r\n", now.Format(time.RFC1123Z)); err != nil {
			return f, err
		}
	}
	if f.messageID == "" {
		f.messageID = "<" + id + "@" + hostname + ">"
		if _, err := fmt.Fprintf(w, "Message-ID: %s\r\n", f.messageID); err != nil {
			return f, err
		}
	}
	return f, nil
}

func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
