package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Bulk operations: POST /v1/bulk runs one operation (hold, release,
// delete, flush, requeue) on a selection of messages in one request.

// Limits of a bulk request.
const (
	// MaxBulkIDs bounds the IDs one bulk request names.
	MaxBulkIDs = 100_000
	// maxBulkRequestBytes fits MaxBulkIDs IDs of typical length.
	maxBulkRequestBytes = 8 << 20
)

// bulkOps are the operations a bulk request may name (queue.Bulk*).
var bulkOps = map[string]bool{"hold": true, "release": true, "delete": true, "flush": true, "requeue": true}

// BulkRequest selects messages and names the operation on them: the IDs
// listed (narrowed by the filters), or with All every message the filters
// match. DryRun only counts the selection.
type BulkRequest struct {
	Op        string   `json:"op"`
	IDs       []string `json:"ids,omitempty"`
	All       bool     `json:"all,omitempty"`
	State     string   `json:"state,omitempty"`
	Domain    string   `json:"domain,omitempty"`
	Sender    string   `json:"sender,omitempty"`
	Recipient string   `json:"recipient,omitempty"`
	// OlderThan selects messages received longer ago than this Go
	// duration ("2h", "30m"), measured on the daemon's clock.
	OlderThan string `json:"older_than,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
}

// BulkResponse counts the messages matched (dry run) or acted on.
type BulkResponse struct {
	Messages int `json:"messages"`
}

func (*BulkRequest) maxBytes() int { return maxBulkRequestBytes }

func (r *BulkRequest) validate() error {
	if !bulkOps[r.Op] {
		return fmt.Errorf("unknown operation %q (want hold, release, delete, flush or requeue)", r.Op)
	}
	if (len(r.IDs) > 0) == r.All {
		return errors.New("bulk needs either ids or all, not both")
	}
	if len(r.IDs) > MaxBulkIDs {
		return fmt.Errorf("more than %d ids in one request", MaxBulkIDs)
	}
	for _, id := range r.IDs {
		if id == "" {
			return errors.New("empty id")
		}
		if err := checkName("id", id, maxIDLen); err != nil {
			return err
		}
	}
	if r.State != "" {
		if _, ok := store.ParseState(r.State); !ok {
			return fmt.Errorf("unknown state %q (want queued, deferred, delivered, bounced or held)", r.State)
		}
	}
	for _, f := range []struct{ name, v string }{{"domain", r.Domain}, {"sender", r.Sender}, {"recipient", r.Recipient}} {
		if err := checkName(f.name, f.v, maxDomainLen+64); err != nil {
			return err
		}
	}
	if r.OlderThan != "" {
		if d, err := time.ParseDuration(r.OlderThan); err != nil || d < 0 {
			return fmt.Errorf("older_than %q is not a positive duration", r.OlderThan)
		}
	}
	return nil
}

// filter is the store filter of the request's conditions, with the age
// measured from now.
func (r *BulkRequest) filter(now time.Time) store.Filter {
	st, _ := store.ParseState(r.State)
	f := store.Filter{State: st, Domain: r.Domain, Sender: r.Sender, Recipient: r.Recipient}
	if d, err := time.ParseDuration(r.OlderThan); err == nil && r.OlderThan != "" {
		f.ReceivedBefore = now.Add(-d)
	}
	return f
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request) {
	var req BulkRequest
	if !s.decode(w, r, &req) {
		return
	}
	n, err := s.opts.Queue.Bulk(r.Context(), req.Op, req.IDs, req.filter(time.Now()), req.DryRun)
	if err != nil {
		s.fail(w, req.Op, "", err)
		return
	}
	if !req.DryRun {
		s.log.Info("bulk "+req.Op, "messages", n, "ids", len(req.IDs), "all", req.All,
			"state", req.State, "domain", req.Domain, "sender", req.Sender,
			"recipient", req.Recipient, "older_than", req.OlderThan)
	}
	s.reply(w, BulkResponse{Messages: n})
}
