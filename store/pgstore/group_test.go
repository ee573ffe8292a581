package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/outbox-mta/outbox/store"
)

// TestGroupBadMessageFailsAlone: a message the database refuses, in a
// group with others, fails alone; the others of its group are stored.
func TestGroupBadMessageFailsAlone(t *testing.T) {
	// One connection: the retries run where the group failed.
	db := openTest(t, pg.Get(t).NewDatabase(t), Options{ScratchDir: t.TempDir(), MaxConns: 1})
	ctx := context.Background()
	var group []*groupEntry
	var ids []string
	for i, rcpt := range []string{"a@example.net", "b@bad\x00domain", "c@example.net"} {
		m := &store.Message{ID: fmt.Sprintf("m%d", i), From: "s@example.org", Recipients: []store.Recipient{{Addr: rcpt, State: store.StateQueued}}}
		e, err := db.newEntry(ctx, m, []byte("body"))
		if err != nil {
			t.Fatal(err)
		}
		group, ids = append(group, e), append(ids, m.ID)
	}
	db.commitGroup(group)
	for i, e := range group {
		err := <-e.done
		_, gerr := db.Get(ctx, ids[i])
		if i == 1 {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || errors.Is(err, store.ErrCommit) {
				t.Errorf("bad message: %v, want the server's refusal", err)
			}
			if !errors.Is(gerr, store.ErrNotFound) {
				t.Errorf("bad message stored: %v", gerr)
			}
			continue
		}
		if err != nil || gerr != nil {
			t.Errorf("message %d of the group: commit %v, get %v", i, err, gerr)
		}
	}
}

// TestGroupCommit: concurrent Enqueues share commits, and every one that
// returned nil is stored.
func TestGroupCommit(t *testing.T) {
	db := openTest(t, pg.Get(t).NewDatabase(t), Options{ScratchDir: t.TempDir(), MaxConns: 4})
	const n = 64
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, err := db.NewBody()
			if err != nil {
				t.Error(err)
				return
			}
			b.Write([]byte("Subject: x\r\n\r\nbody\r\n"))
			m := &store.Message{From: "s@example.org", Recipients: []store.Recipient{{Addr: "r@example.net"}}}
			if err := db.Enqueue(context.Background(), m, b); err != nil {
				t.Error(err)
				return
			}
			ids[i] = m.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if _, err := db.Get(context.Background(), id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if c := db.group.commits.Load(); c > n {
		t.Errorf("%d commits for %d messages", c, n)
	}
	t.Logf("%d messages in %d commits", n, db.group.commits.Load())
}
