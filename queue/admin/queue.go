package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Queue is what the admin server needs from the queue. The queue's Ops
// implement it (cmd wires them); tests use admintest.Queue, the same Ops
// over a spool in a temporary directory.
type Queue interface {
	List(ctx context.Context, f store.Filter) ([]*store.Message, error)
	Get(ctx context.Context, id string) (*store.Message, error)
	Headers(ctx context.Context, id string) (string, error) // the raw header block of the body
	// OpenMessage opens the stored message as it is sent, of size bytes.
	OpenMessage(ctx context.Context, id string) (rc io.ReadCloser, size int64, err error)
	Flush(ctx context.Context, id string) error // id's pending recipients due now
	FlushDomain(ctx context.Context, domain string) (int, error)
	FlushAll(ctx context.Context) (int, error)
	Hold(ctx context.Context, id string) error
	Release(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
	// Bulk runs op (hold, release, delete, flush, requeue) on the given
	// IDs that match f, or on every match of f when ids is empty, and
	// returns how many messages it matched (dryRun) or acted on.
	Bulk(ctx context.Context, op string, ids []string, f store.Filter, dryRun bool) (int, error)
	Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error)
	// Quarantined lists the messages set aside as unreadable.
	Quarantined(ctx context.Context) ([]store.Quarantined, error)
	// SpoolStats counts the spool; the server only serialises it.
	SpoolStats(ctx context.Context) (store.Stats, error)
}

// Sentinel errors of the admin interface.
var (
	// ErrNotRunning: the client found no daemon behind the socket (the
	// file is missing or nothing accepts connections on it).
	ErrNotRunning = errors.New("outbox daemon is not running")
	// ErrInUse: Listen found a live daemon already answering on the socket.
	ErrInUse = errors.New("admin socket is in use")
	// ErrServerClosed is returned by Serve after Shutdown; it is
	// http.ErrServerClosed, so either may be matched.
	ErrServerClosed = http.ErrServerClosed
)

// Limits of the API.
const (
	// MaxRequestBytes bounds a request body; requests are a few fields.
	MaxRequestBytes = 64 << 10
	// DefaultPage is the page size of a List request that names none.
	DefaultPage = 100
	// MaxPage is the largest page a List request may ask for. The server
	// asks the queue for MaxPage+1 messages to learn whether another page
	// follows, so it must stay below the store's cap (checked below).
	MaxPage = 500
	// maxIDLen and maxDomainLen bound identifiers in requests; nothing
	// legitimate comes close (RFC 1035 caps a domain at 255 octets).
	maxIDLen     = 256
	maxDomainLen = 255
)

// The server's one-extra look-ahead needs the store to return up to
// MaxPage+1 messages; this fails to compile if the store's cap drops below.
const _ = uint(store.MaxListLimit - (MaxPage + 1))
