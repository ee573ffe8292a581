package submission

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// TestWithRealStore submits through the listener into a real spool on disk
// and reads the message back from the store.
func TestWithRealStore(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ts := startServer(t, func(o *Options) { o.Spool = db })

	c := client(t, ts.addr, "127.0.0.1")
	reply, err := send(c, "app@example.com", []string{"x@example.org", "y@example.net"},
		"Subject: real\r\nX-Outbox-At-Least-One: yes\r\n\r\nhello\r\n")
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(reply, "2.0.0 Ok: queued as ")
	if !ok || id == "" {
		t.Fatalf("reply %q carries no queue ID", reply)
	}
	m, body := readStored(t, db, id)
	if m == nil {
		t.Fatalf("%s not in the spool after 250", id)
	}
	if m.From != "app@example.com" || len(m.Recipients) != 2 || m.AtLeastOne == nil || !*m.AtLeastOne {
		t.Errorf("stored %+v", m)
	}
	for _, r := range m.Recipients {
		if r.State != store.StateQueued {
			t.Errorf("recipient %s is %v, want queued", r.Addr, r.State)
		}
	}
	if !strings.HasPrefix(string(body), "Received: from client.test") ||
		!strings.Contains(string(body), "Message-ID: <"+id+"@outbox.test>") ||
		strings.Contains(string(body), "At-Least-One") || !strings.HasSuffix(string(body), "\r\n\r\nhello\r\n") {
		t.Errorf("stored body %q", body)
	}
	if m.Size != int64(len(body)) {
		t.Errorf("Size %d, body %d bytes", m.Size, len(body))
	}
}

// recorder is a Waker and an Observer that remembers what it was told.
type recorder struct {
	mu                     sync.Mutex
	spooled                []error
	opened, closed, accept int
}

func (r *recorder) Spooled(err error) { r.mu.Lock(); r.spooled = append(r.spooled, err); r.mu.Unlock() }
func (r *recorder) ConnOpened()       { r.mu.Lock(); r.opened++; r.mu.Unlock() }
func (r *recorder) ConnClosed()       { r.mu.Lock(); r.closed++; r.mu.Unlock() }
func (r *recorder) Accepted()         { r.mu.Lock(); r.accept++; r.mu.Unlock() }

// TestWakerAndObserver: every commit, failed or not, is reported to the
// Waker with its error; only a committed message counts as accepted; each
// connection is counted opened and then closed.
func TestWakerAndObserver(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, func(o *Options) { o.Waker, o.Observer = rec, rec })
	failure := fmt.Errorf("commit: %w", store.ErrCommit)
	c := client(t, ts.addr, "127.0.0.1")
	if _, err := send(c, "a@example.com", []string{"b@example.org"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	ts.spool.mu.Lock()
	ts.spool.enqueueErr = failure
	ts.spool.mu.Unlock()
	if _, err := send(c, "a@example.com", []string{"b@example.org"}, "Subject: x\r\n\r\nx\r\n"); err == nil {
		t.Fatal("second message accepted on a failing spool")
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection counted closed", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.closed == 1 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.spooled) != 2 || rec.spooled[0] != nil || !errors.Is(rec.spooled[1], store.ErrCommit) {
		t.Errorf("Waker told %v, want [nil, the commit error]", rec.spooled)
	}
	if rec.accept != 1 || rec.opened != 1 {
		t.Errorf("Observer: %d accepted, %d opened; want 1 and 1", rec.accept, rec.opened)
	}
}
