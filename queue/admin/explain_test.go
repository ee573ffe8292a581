package admin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

func TestExplain(t *testing.T) {
	q := fixture(t)
	m1 := q.ID("m1")
	c := admin.NewClient(admintest.ServeWith(t, admin.Options{
		Queue: q,
		Explain: func(_ context.Context, id string) ([]admin.Explanation, error) {
			if id != m1 {
				return nil, store.ErrNotFound
			}
			return []admin.Explanation{{Rcpt: "bob@example.org", State: "deferred", Reason: "backoff", Until: t0, Attempts: 2, Sentence: "retrying"}}, nil
		},
	}))
	defer c.Close()
	es, err := c.Explain(context.Background(), m1)
	if err != nil || len(es) != 1 || es[0].Reason != "backoff" || !es[0].Until.Equal(t0) || es[0].Attempts != 2 {
		t.Errorf("Explain(m1) = %+v, %v", es, err)
	}
	if _, err := c.Explain(context.Background(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Explain(nope) = %v, want ErrNotFound", err)
	}
	// A server without explanations says so, rather than an empty answer.
	c2 := admin.NewClient(admintest.Serve(t, fixture(t)))
	defer c2.Close()
	if _, err := c2.Explain(context.Background(), m1); err == nil {
		t.Error("Explain on a server without it succeeded")
	}
}
