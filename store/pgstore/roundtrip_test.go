package pgstore

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// roundTrips counts the round trips to the server made under a context
// it marks: each statement run alone (BEGIN and COMMIT among them) and
// each batch is one.
type roundTrips struct{}

type countKey struct{}

// count marks ctx: the round trips made with it add to n.
func count(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, countKey{}, n)
}

func (roundTrips) add(ctx context.Context) {
	if n, ok := ctx.Value(countKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}

func (r roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.add(ctx)
	return ctx
}
func (roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.add(ctx)
	return ctx
}
func (roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestRoundTripsPerMessage counts the round trips of one message's life
// as the queue lives it (accept; look up, claim, read, look its
// recipients up in the suppression list and deliver), once the
// statements are prepared: each is a wait for the server, and at
// thousands of messages a second they, not the server's work, bound a
// node. A regression here costs every message. The claim brings the
// record and body (prefetch.go) and, while the list is empty, spares the
// look-up (listcache.go).
func TestRoundTripsPerMessage(t *testing.T) {
	db := openTest(t, pg.Get(t).NewDatabase(t), Options{ScratchDir: t.TempDir(), tracer: roundTrips{}})
	// max: with an empty suppression list, and with entries in it.
	steps := []struct {
		name string
		max  [2]int64
		run  func(ctx context.Context, id string) (string, error)
	}{
		{"enqueue", [2]int64{1, 1}, func(ctx context.Context, _ string) (string, error) {
			b, err := db.NewBody()
			if err != nil {
				return "", err
			}
			b.Write([]byte("Subject: x\r\n\r\nbody\r\n"))
			m := &store.Message{From: "a@example.org", Recipients: []store.Recipient{{Addr: "b@example.net"}}}
			err = db.Enqueue(ctx, m, b)
			return m.ID, err
		}},
		{"due", [2]int64{1, 1}, func(ctx context.Context, id string) (string, error) {
			_, err := db.Due(ctx, time.Now(), 1, nil)
			return id, err
		}},
		{"claim", [2]int64{1, 1}, func(ctx context.Context, id string) (string, error) {
			_, err := db.Claim(ctx, time.Now(), []string{id})
			return id, err
		}},
		{"get", [2]int64{0, 0}, func(ctx context.Context, id string) (string, error) {
			_, err := db.Get(ctx, id)
			return id, err
		}},
		{"suppressed", [2]int64{0, 1}, func(ctx context.Context, id string) (string, error) {
			_, err := db.Suppressed(ctx, []string{"b@example.net"}, time.Now())
			return id, err
		}},
		{"body", [2]int64{0, 0}, func(ctx context.Context, id string) (string, error) {
			rc, err := db.OpenBody(ctx, id)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			return id, err
		}},
		{"outcome", [2]int64{1, 3}, func(ctx context.Context, id string) (string, error) {
			return id, db.Update(ctx, id, func(m *store.Message) error {
				now := time.Now()
				for i := range m.Recipients {
					r := &m.Recipients[i]
					r.State, r.Attempts, r.LastReply = store.StateDelivered, 1, "250 2.0.0 ok"
					r.History = append(r.History, store.Attempt{Time: now, Host: "mx.example.net", Code: 250, Reply: "250 2.0.0 ok"})
				}
				return nil
			})
		}},
	}
	life := func() []int64 {
		var got []int64
		for range 2 { // the first prepares the statements
			got = got[:0]
			id := ""
			for _, s := range steps {
				var n atomic.Int64
				var err error
				if id, err = s.run(count(context.Background(), &n), id); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				got = append(got, n.Load())
			}
		}
		return got
	}
	check := func(got []int64, listed int) {
		total := int64(0)
		for i, s := range steps {
			total += got[i]
			t.Logf("%-10s %d round trips", s.name, got[i])
			if want := s.max[listed]; got[i] > want {
				t.Errorf("%s: %d round trips, want at most %d", s.name, got[i], want)
			}
		}
		t.Logf("a message's life: %d round trips", total)
	}
	check(life(), 0)
	// With entries in the suppression list, the look-up is a statement,
	// and the outcome of a delivery reads the entries of its recipients:
	// one round trip more each.
	if _, err := db.Suppress(context.Background(), store.Suppression{Addr: "other@example.net", Reason: store.ReasonManual}); err != nil {
		t.Fatal(err)
	}
	t.Log("with a suppression list:")
	check(life(), 1)
}
