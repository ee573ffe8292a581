package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// TestBodyReadFailureQuarantines: a message whose body file is missing,
// short, not a file, or shrinks while it is read is quarantined at the
// first read failure — out of the due index, listed by Quarantined and
// counted by Stats — with an ERROR naming the file; a retry cannot bring
// the body back, and a short body must never be sent.
func TestBodyReadFailureQuarantines(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		before func(path string) // breaks the file before OpenBody
		during func(path string) // breaks it between OpenBody and the read
		reason string
	}{
		{name: "missing", before: func(p string) { os.Remove(p) }, reason: "no such file"},
		{name: "short", before: func(p string) { os.Truncate(p, 100) }, reason: "has 100 bytes"},
		{name: "a directory", before: func(p string) { os.Remove(p); os.Mkdir(p, 0o700) }, reason: "bytes, its record says"},
		{name: "shrinks during the read", during: func(p string) { os.Truncate(p, 100) }, reason: "short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			db := openTest(t, "", Options{InlineMax: 1024, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			id := enqueue(t, db, &Message{From: "a@b", Recipients: rcpts("c@d")}, pattern(50_000, 1))
			path := db.bodyPath(id)
			if tc.before != nil {
				tc.before(path)
			}
			rc, err := db.OpenBody(ctx, id)
			if err == nil {
				tc.during(path)
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("reading the body = %v, want ErrCorrupt", err)
			}
			if _, err := db.Get(ctx, id); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Get after the failure = %v, want ErrCorrupt (quarantined)", err)
			}
			if due, _ := db.Due(ctx, t0.Add(1e15), 0, nil); len(due) != 0 {
				t.Errorf("still due: %v", due)
			}
			q, _ := db.Quarantined(ctx)
			if len(q) != 1 || q[0].ID != id || !strings.Contains(q[0].Reason, tc.reason) {
				t.Errorf("Quarantined = %+v; want %s with a reason containing %q", q, id, tc.reason)
			}
			if m, err := DecodeMessage(q[0].Raw); err != nil || m.From != "a@b" {
				t.Errorf("quarantined record does not decode to the envelope: %v", err)
			}
			if s, _ := db.Stats(ctx); s.Quarantined != 1 || s.Messages != 0 {
				t.Errorf("Stats: %d quarantined, %d messages", s.Quarantined, s.Messages)
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "file="+path) {
				t.Errorf("no ERROR naming %s:\n%s", path, l)
			}
			if err := db.Delete(ctx, id); err != nil {
				t.Errorf("Delete of the quarantined message: %v", err)
			}
		})
	}
}
