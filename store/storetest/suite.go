// Package storetest is the behavioural test suite every spool backend
// passes: the same tests, run from store's tests against bbolt and from
// store/pgstore's against PostgreSQL. A backend's own tests keep what only
// it has (bbolt's files, fsync and damage; PostgreSQL's leases).
//
// It imports testing and is imported only by tests.
package storetest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Spool is what the suite drives: every method the consumers of a spool
// use (queue.Store, submission.Spool, httpapi.Spool, maintenance.Store,
// the event log, the suppression list, the outbound TLS state and TLS
// reports, the webhook cursors), and
// Close.
type Spool interface {
	NewBody() (*store.Body, error)
	Enqueue(ctx context.Context, m *store.Message, b *store.Body) error
	EnqueueOnce(ctx context.Context, m *store.Message, b *store.Body, rec *store.Idempotency, since time.Time) (*store.Idempotency, error)
	Get(ctx context.Context, id string) (*store.Message, error)
	OpenBody(ctx context.Context, id string) (io.ReadCloser, error)
	Update(ctx context.Context, id string, fn func(m *store.Message) error) error
	Delete(ctx context.Context, id string) error
	Due(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]string, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	List(ctx context.Context, f store.Filter) ([]*store.Message, error)
	Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error)
	PendingNotices(ctx context.Context) ([]string, error)
	Probe(ctx context.Context) error
	Quarantined(ctx context.Context) ([]store.Quarantined, error)
	Stats(ctx context.Context) (store.Stats, error)
	PruneMessages(ctx context.Context, before time.Time) (int, error)
	PruneBounces(ctx context.Context, before time.Time) (int, error)
	PruneIdempotency(ctx context.Context, before time.Time) (int, error)
	DueLane(ctx context.Context, p store.Priority, now time.Time, limit int, skip func(id string) bool) ([]string, error)
	Events(ctx context.Context, after uint64, limit int) ([]store.Event, error)
	LastEventSeq() uint64
	EventsAfter(after uint64) <-chan struct{}
	PruneEvents(ctx context.Context, before time.Time) (int, error)
	Suppress(ctx context.Context, s store.Suppression) (store.Suppression, error)
	Unsuppress(ctx context.Context, addr string) error
	Suppression(ctx context.Context, addr string) (store.Suppression, error)
	Suppressions(ctx context.Context, after string, limit int) ([]store.Suppression, error)
	Suppressed(ctx context.Context, addrs []string, now time.Time) (map[string]store.Suppression, error)
	PruneSuppressions(ctx context.Context, now time.Time) (int, error)
	MTASTSPolicy(ctx context.Context, domain string) ([]byte, error)
	PutMTASTSPolicy(ctx context.Context, domain string, v []byte) error
	TLSLevel(ctx context.Context, domain string) (uint8, error)
	RaiseTLSLevel(ctx context.Context, domain string, level uint8) error
	ResetTLSLevel(ctx context.Context, domain string) (bool, error)
	TLSLevels(ctx context.Context) (map[string]uint8, error)
	WebhookCursor(ctx context.Context, endpoint string) (store.WebhookCursor, bool, error)
	WebhookCursors(ctx context.Context) ([]store.WebhookCursor, error)
	PutWebhookCursor(ctx context.Context, c store.WebhookCursor) error
	EventsJSON(ctx context.Context, after uint64, limit int) ([]store.EventJSON, error)
	UpdateTLSReports(ctx context.Context, ups []store.TLSReportUpdate) error
	TLSReports(ctx context.Context, before string) ([]store.TLSReport, error)
	DeleteTLSReport(ctx context.Context, day, domain string) error
	Close() error
}

// Options are the backend options the suite sets.
type Options struct {
	Now         func() time.Time // default: always T0
	InlineMax   int64            // bodies kept in memory while streaming
	MaxBodySize int64
}

// Opener opens the spool a Factory made for one test; called again after
// Close, it reopens the same spool. The backend closes what is still open
// when the test ends.
type Opener func(o Options) Spool

// Factory makes new, empty storage for t.
type Factory func(t *testing.T) Opener

// T0 is the suite's fake "now".
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs every test of the suite against the backend f makes.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"EnqueueRoundTrip", testEnqueueRoundTrip},
		{"BodyDiscard", testBodyDiscard},
		{"MaxBodySize", testMaxBodySize},
		{"IDsSortableAndUnique", testIDsSortableAndUnique},
		{"Delete", testDelete},
		{"CancelledContext", testCancelledContext},
		{"Prefix", testPrefix},
		{"UpdateAndBounceLog", testUpdateAndBounceLog},
		{"DueIndex", testDueIndex},
		{"ListFiltersAndPaging", testListFiltersAndPaging},
		{"EnqueueFinalAndHeld", testEnqueueFinalAndHeld},
		{"PruneAndStats", testPruneAndStats},
		{"StatsDomains", testStatsDomains},
		{"StatsEqualsRecount", testStatsEqualsRecount},
		{"PendingNotices", testPendingNotices},
		{"PruneFinished", testPruneFinished},
		{"EnqueueOnce", testEnqueueOnce},
		{"EnqueueOnceConcurrent", testEnqueueOnceConcurrent},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Probe", testProbe},
		{"DueLanes", testDueLanes},
		{"EventsLifecycle", testEventsLifecycle},
		{"EventsCallerClass", testEventsCallerClass},
		{"EventsAtomic", testEventsAtomic},
		{"EventsSequenceAcrossReopenAndPrune", testEventsSequenceAcrossReopenAndPrune},
		{"EventsConcurrent", testEventsConcurrent},
		{"EventsAfterWakes", testEventsAfterWakes},
		{"SuppressionList", testSuppressionList},
		{"ListingWithOutcome", testListingWithOutcome},
		{"TLSState", testTLSState},
		{"WebhookCursors", testWebhookCursors},
		{"EventsJSON", testEventsJSON},
		{"TLSReports", testTLSReports},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, f(t)) })
	}
}

// open opens with the suite's defaults filled in.
func open(opener Opener, o Options) Spool {
	if o.Now == nil {
		o.Now = func() time.Time { return T0 }
	}
	return opener(o)
}

func rcpts(addrs ...string) []store.Recipient {
	rs := make([]store.Recipient, len(addrs))
	for i, a := range addrs {
		rs[i] = store.Recipient{Addr: a, State: store.StateQueued}
	}
	return rs
}

// enqueue stores a message with the given body and returns its ID.
func enqueue(t testing.TB, db Spool, m *store.Message, body []byte) string {
	t.Helper()
	b, err := db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := db.Enqueue(context.Background(), m, b); err != nil {
		b.Discard()
		t.Fatalf("Enqueue: %v", err)
	}
	return m.ID
}

func readBody(t testing.TB, db Spool, id string) []byte {
	t.Helper()
	rc, err := db.OpenBody(context.Background(), id)
	if err != nil {
		t.Fatalf("OpenBody(%s): %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pattern is a deterministic body of n bytes.
func pattern(n int, seed byte) []byte {
	line := []byte(strings.Repeat(string(rune('a'+seed%26)), 77) + "\r\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

func equalIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// normalize makes times comparable with DeepEqual.
func normalize(m *store.Message) *store.Message {
	c := *m
	c.Received = c.Received.UTC()
	c.DeliverAfter = c.DeliverAfter.UTC()
	c.ExpireAt = c.ExpireAt.UTC()
	c.Recipients = append([]store.Recipient(nil), m.Recipients...)
	for i := range c.Recipients {
		r := &c.Recipients[i]
		r.NextAttempt = r.NextAttempt.UTC()
		if r.NextAttempt.Equal(time.Time{}) {
			r.NextAttempt = time.Time{}
		}
		r.History = append([]store.Attempt(nil), r.History...)
		for j := range r.History {
			r.History[j].Time = r.History[j].Time.UTC()
		}
		if len(r.History) == 0 {
			r.History = nil
		}
	}
	return &c
}
