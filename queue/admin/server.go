package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/netutil"

	"github.com/outbox-mta/outbox/store"
)

// Options configure New.
type Options struct {
	// Queue carries out the commands. Required.
	Queue Queue
	// Logger; the server adds component=admin. Default slog.Default().
	Logger *slog.Logger
	// Dispatch reports the state of delivery for Stats; nil leaves it out.
	Dispatch func() DispatchStatus
	// Access opens the API to groups (access.go); the zero value keeps it
	// to root and the daemon's own user. Pass the same to ListenWith.
	Access Access
	// TLS is the TLS downgrade memory (POST /v1/tls); nil: off.
	TLS TLSMemory
}

// Server serves the admin API. Its lifecycle follows net/http: Serve (or
// ListenAndServe) until Shutdown, which stops accepting and waits for
// in-flight requests until its context ends. Create it with New.
type Server struct {
	opts   Options
	log    *slog.Logger
	srv    *http.Server
	access access
}

// New returns a server of the API over opts.opts.Queue.
func New(opts Options) (*Server, error) {
	if opts.Queue == nil {
		return nil, errors.New("admin: Options.Queue is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	acc, err := opts.Access.resolve()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger.With("component", "admin"), access: acc}
	s.srv = &http.Server{
		Handler:     s.Handler(),
		ConnContext: connContext,
		// The socket is local and 0600, but a stuck client must still
		// not hold a connection forever.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	return s, nil
}

// maxConns caps the admin connections served at once; more wait in the
// socket's backlog, holding none of the daemon's file descriptors.
const maxConns = 16

// Serve accepts connections on l until Shutdown; it returns ErrServerClosed
// after Shutdown and closes l.
func (s *Server) Serve(l net.Listener) error {
	s.log.Info("admin socket listening", "addr", l.Addr().String())
	return s.srv.Serve(netutil.LimitListener(peerListener{l}, maxConns))
}

// ListenAndServe creates the socket at path with Listen and serves on it.
func (s *Server) ListenAndServe(path string) error {
	l, err := Listen(path)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends; the socket file is removed when the listener closes.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

// Handler returns the API's HTTP handler, for tests and for embedding.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for op, h := range map[string]http.HandlerFunc{
		"list":        s.list,
		"get":         s.get,
		"headers":     s.headers,
		"cat":         s.cat,
		"flush":       s.flush,
		"hold":        s.idOp("hold", "held message", Queue.Hold),
		"release":     s.idOp("release", "released message", Queue.Release),
		"delete":      s.idOp("delete", "deleted message", Queue.Delete),
		"bulk":        s.bulk,
		"bounces":     s.bounces,
		"stats":       s.stats,
		"quarantined": s.quarantined,
		"tls":         s.tls,
	} {
		mux.HandleFunc("POST /v1/"+op, s.guard(op, h))
	}
	return mux
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	var req listRequest
	if !s.decode(w, r, &req) {
		return
	}
	f, page := req.filter()
	msgs, err := s.opts.Queue.List(r.Context(), f)
	if err != nil {
		s.fail(w, "list", "", err)
		return
	}
	resp := listResponse{Messages: make([]Message, 0, min(len(msgs), page))}
	if len(msgs) > page {
		// The extra message proves another page exists; the cursor is the
		// last ID shown, since the store lists IDs after it.
		msgs = msgs[:page]
		resp.Next = msgs[page-1].ID
	}
	for _, m := range msgs {
		resp.Messages = append(resp.Messages, NewMessage(m))
	}
	if req.Total {
		n, err := s.countMatches(r.Context(), f)
		if err != nil {
			s.fail(w, "list", "", err)
			return
		}
		resp.Total = &n
	}
	s.reply(w, resp)
}

// countMatches counts every message f matches, from the start, a store
// page at a time.
func (s *Server) countMatches(ctx context.Context, f store.Filter) (int, error) {
	n := 0
	f.After, f.Limit = "", store.MaxListLimit
	for {
		page, err := s.opts.Queue.List(ctx, f)
		if err != nil || len(page) == 0 {
			return n, err
		}
		n += len(page)
		f.After = page[len(page)-1].ID
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	var req idRequest
	if !s.decode(w, r, &req) {
		return
	}
	m, err := s.opts.Queue.Get(r.Context(), req.ID)
	if err != nil {
		s.fail(w, "get", req.ID, err)
		return
	}
	s.reply(w, messageResponse{Message: NewMessage(m)})
}

func (s *Server) headers(w http.ResponseWriter, r *http.Request) {
	var req idRequest
	if !s.decode(w, r, &req) {
		return
	}
	h, err := s.opts.Queue.Headers(r.Context(), req.ID)
	if err != nil {
		s.fail(w, "headers", req.ID, err)
		return
	}
	s.reply(w, headersResponse{Headers: h})
}

// cat answers the stored message itself (application/octet-stream) with
// its length: a read that fails half-way cuts the answer short of
// Content-Length, which the client reports instead of a truncated message.
func (s *Server) cat(w http.ResponseWriter, r *http.Request) {
	var req idRequest
	if !s.decode(w, r, &req) {
		return
	}
	rc, size, err := s.opts.Queue.OpenMessage(r.Context(), req.ID)
	if err != nil {
		s.fail(w, "cat", req.ID, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Error("admin request failed", "op", "cat", "msgid", req.ID, "err", err)
	}
}

func (s *Server) flush(w http.ResponseWriter, r *http.Request) {
	var req flushRequest
	if !s.decode(w, r, &req) {
		return
	}
	var (
		n   int
		err error
	)
	switch {
	case req.ID != "":
		err = s.opts.Queue.Flush(r.Context(), req.ID)
		n = 1
	case req.Domain != "":
		n, err = s.opts.Queue.FlushDomain(r.Context(), req.Domain)
	default:
		n, err = s.opts.Queue.FlushAll(r.Context())
	}
	if err != nil {
		s.fail(w, "flush", req.ID, err)
		return
	}
	s.log.Info("flushed", "msgid", req.ID, "domain", req.Domain, "all", req.All, "messages", n)
	s.reply(w, flushResponse{Flushed: n})
}

// idOp serves an operation that takes one message ID and returns nothing;
// op is a method expression (Queue.Hold) so s.Queue is read per request.
func (s *Server) idOp(name, done string, op func(Queue, context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req idRequest
		if !s.decode(w, r, &req) {
			return
		}
		if err := op(s.opts.Queue, r.Context(), req.ID); err != nil {
			s.fail(w, name, req.ID, err)
			return
		}
		s.log.Info(done, "msgid", req.ID)
		s.reply(w, struct{}{})
	}
}

func (s *Server) bounces(w http.ResponseWriter, r *http.Request) {
	var req bouncesRequest
	if !s.decode(w, r, &req) {
		return
	}
	bs, err := s.opts.Queue.Bounces(r.Context(), req.Since)
	if err != nil {
		s.fail(w, "bounces", "", err)
		return
	}
	resp := bouncesResponse{Bounces: make([]Bounce, 0, len(bs))}
	for _, b := range bs {
		resp.Bounces = append(resp.Bounces, NewBounce(b))
	}
	s.reply(w, resp)
}

type quarantinedRequest struct{}

func (*quarantinedRequest) validate() error { return nil }

type quarantinedResponse struct {
	Quarantined []Quarantined `json:"quarantined"`
}

func (s *Server) quarantined(w http.ResponseWriter, r *http.Request) {
	var req quarantinedRequest
	if !s.decode(w, r, &req) {
		return
	}
	qs, err := s.opts.Queue.Quarantined(r.Context())
	if err != nil {
		s.fail(w, "quarantined", "", err)
		return
	}
	resp := quarantinedResponse{Quarantined: make([]Quarantined, len(qs))}
	for i, q := range qs {
		resp.Quarantined[i] = NewQuarantined(q)
	}
	s.reply(w, resp)
}

// decode reads the request body into req, answering 400 or 413 itself when
// it cannot.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, req request) bool {
	err := decodeRequest(r.Body, req)
	if err == nil {
		return true
	}
	status, code := http.StatusBadRequest, codeBadRequest
	if errors.Is(err, errRequestTooLarge) {
		status, code = http.StatusRequestEntityTooLarge, codeTooLarge
	}
	s.writeJSON(w, status, errorResponse{Error: err.Error(), Code: code})
	return false
}

// fail answers an error from the queue: 404 for an unknown message, else
// 500 with the error's text. The caller is a local operator, so the text
// helps more than it leaks; the error is logged here, where it is handled.
func (s *Server) fail(w http.ResponseWriter, op, id string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.writeJSON(w, http.StatusNotFound, errorResponse{Error: "no such message: " + id, Code: codeNotFound})
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away; nobody reads the answer
	}
	s.log.Error("admin request failed", "op", op, "msgid", id, "err", err)
	s.writeJSON(w, http.StatusInternalServerError, errorResponse{Error: fmt.Sprintf("%s: %v", op, err), Code: codeInternal})
}

func (s *Server) reply(w http.ResponseWriter, v any) {
	s.writeJSON(w, http.StatusOK, v)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("writing admin response", "err", err)
	}
}
