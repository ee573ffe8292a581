package submission

import (
	"context"
	"io"
	"log/slog"
	"strings"
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
	ts := startServer(t, func(o *Options) { o.Spool = AdaptStore(db) })

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
	ctx := context.Background()
	m, err := db.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s) after 250: %v", id, err)
	}
	if m.From != "app@example.com" || len(m.Recipients) != 2 || m.AtLeastOne == nil || !*m.AtLeastOne {
		t.Errorf("stored %+v", m)
	}
	for _, r := range m.Recipients {
		if r.State != store.StateQueued {
			t.Errorf("recipient %s is %v, want queued", r.Addr, r.State)
		}
	}
	rc, err := db.OpenBody(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
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
