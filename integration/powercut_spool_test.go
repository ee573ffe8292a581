package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// The spool a power cut left: reading it back, and salvaging it.

// salvage deals with a spool a torn page damaged (spool check said so in
// report): serve must refuse it with exit status 65 and say what to run,
// and `outbox spool salvage` must recover every message acknowledged before
// the cut. The salvaged spool then replaces the disk's.
func (r *powerRun) salvage(i int, acked map[int64]string, report string) {
	t := r.t
	t.Helper()
	t.Logf("cut %d damaged the spool:\n%s", i, report)
	r.salvaged++
	r.mount()
	code, out := runOutbox(t, r.d.dir, "serve", "--config", r.d.config)
	r.fs.Unmount() // serve refused the spool: nothing to cut
	if code != 65 || !strings.Contains(out, "outbox spool salvage") {
		t.Fatalf("cut %d: serve on the damaged spool: exit %d, want 65 and what to run\n%s", i, code, out)
	}
	to := fmt.Sprintf("%s.salvaged-%d", r.backing, i)
	if code, out := runOutbox(t, r.d.dir, "spool", "salvage", "--from", r.backing, "--to", to); code > 1 {
		t.Fatalf("cut %d: spool salvage: exit %d\n%s", i, code, out)
	}
	ids, err := readSpool(t, to)
	if err != nil {
		t.Fatalf("cut %d: the salvaged spool: %v", i, err)
	}
	for tag, id := range acked {
		if !ids[id] {
			t.Errorf("cut %d: salvage lost message %s (tag %d), acknowledged before the cut", i, id, tag)
		}
	}
	if err := os.Rename(r.backing, fmt.Sprintf("%s.damaged-%d", r.backing, i)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to, r.backing); err != nil {
		t.Fatal(err)
	}
}

// readSpool reads the spool in dir as a power cut left it and returns the
// IDs of its messages: it opens a copy with the store package (as the
// daemon will: recovery included), reads every record, active and
// finished, and every body, and wants no record quarantined. The copy keeps
// the reading from changing the disk the daemon restarts on.
func readSpool(t *testing.T, dir string) (ids map[string]bool, err error) {
	t.Helper()
	cp, err := os.MkdirTemp("", "outbox-spool-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cp)
	if err := copySpool(dir, cp); err != nil {
		return nil, err
	}
	db, err := store.Open(cp, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx := context.Background()
	ids = map[string]bool{}
	for after := ""; ; {
		page, err := db.List(ctx, store.Filter{Done: true, After: after, Limit: store.MaxListLimit})
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			ids[m.ID] = true
			body, err := db.OpenBody(ctx, m.ID)
			if err != nil {
				return nil, fmt.Errorf("message %s: %w", m.ID, err)
			}
			n, err := io.Copy(io.Discard, body)
			body.Close()
			if err != nil {
				return nil, fmt.Errorf("message %s: body: %w", m.ID, err)
			}
			if n != m.Size {
				return nil, fmt.Errorf("message %s: body of %d bytes, record says %d", m.ID, n, m.Size)
			}
		}
		after = page[len(page)-1].ID
	}
	q, err := db.Quarantined(ctx)
	if err != nil {
		return nil, err
	}
	if len(q) > 0 {
		return nil, fmt.Errorf("%d records quarantined: %+v", len(q), q)
	}
	return ids, nil
}

// copySpool copies spool.db and links the body files of the spool in dir
// into to.
func copySpool(dir, to string) error {
	db, err := os.ReadFile(filepath.Join(dir, "spool.db"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil {
		if err := os.WriteFile(filepath.Join(to, "spool.db"), db, 0o600); err != nil {
			return err
		}
	}
	bodies, err := os.ReadDir(filepath.Join(dir, "bodies"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(to, "bodies"), 0o700); err != nil {
		return err
	}
	for _, b := range bodies {
		if err := os.Link(filepath.Join(dir, "bodies", b.Name()), filepath.Join(to, "bodies", b.Name())); err != nil {
			return err
		}
	}
	return nil
}
