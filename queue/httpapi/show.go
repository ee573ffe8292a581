package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// Messages reads queued messages for GET /v1/messages/{id}; *queue.Ops
// satisfies it.
type Messages interface {
	Get(ctx context.Context, id string) (*store.Message, error)
	Headers(ctx context.Context, id string) (string, error)
}

// showResponse is what `outbox queue show --json` prints: the admin wire
// form of the message and its header block.
type showResponse struct {
	Message admin.Message `json:"message"`
	Headers string        `json:"headers"`
}

// getMessage is GET /v1/messages/{id}. A client sees only the messages it
// submitted (the same key, or the trusted loopback): any other ID is 404,
// as if it did not exist, so IDs reveal nothing about other senders.
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m, err := s.opts.Messages.Get(r.Context(), id)
	if err == nil && m.User != client(r.Context()) {
		err = store.ErrNotFound
	}
	var headers string
	if err == nil {
		headers, err = s.opts.Messages.Headers(r.Context(), id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "id", "no such message")
	case err != nil:
		s.log.Error("cannot read message", "msgid", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "the message could not be read; retry later")
	default:
		writeJSON(w, http.StatusOK, showResponse{Message: admin.NewMessage(m), Headers: headers})
	}
}
