package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
)

// runSpoolMigrate is `outbox spool migrate --from bbolt DIR --to postgres
// URL`: it copies a stopped daemon's bbolt spool into a PostgreSQL
// database (created or migrated to the current schema), keeping every
// message's ID, record (recipients, states, history) and body, the bounce
// log, the quarantine and the idempotency records. A message already in
// the database is left alone, so an interrupted copy can be run again.
// The bbolt spool is only read. Exit 0 when everything was copied, 1 when
// a message could not be, 2 on a usage error or when the daemon holds the
// spool.
func runSpoolMigrate(ctx context.Context, c *cli, args []string) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			newVerbFlags(c, "spool migrate").fs.Usage()
			return exitOK
		}
	}
	dir, url, err := migrateArgs(args)
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox spool migrate: %v\nusage: outbox spool migrate --from bbolt DIR --to postgres URL\n", err)
		return exitUsage
	}
	quiet := slog.New(slog.DiscardHandler)
	src, err := store.Open(dir, store.Options{Logger: quiet})
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(c.stderr, "outbox spool migrate: %v\nThe daemon is running on this spool: stop it first (systemctl stop outbox).\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox spool migrate: %v\n", err)
		return exitUsage
	}
	defer src.Close()
	dst, err := pgstore.Open(ctx, url, pgstore.Options{Logger: quiet, Node: "outbox-spool-migrate"})
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox spool migrate: postgres: %v\n", err)
		return exitUsage
	}
	defer dst.Close()
	r, err := copySpool(ctx, src, dst)
	fmt.Fprintf(c.stdout, "%d messages copied, %d already there, %d bounce log rows, %d quarantined, %d idempotency records, %d events, %d suppressions\n",
		r.copied, r.present, r.bounces, r.quarantined, r.idem, r.events, r.suppressions)
	for _, f := range r.failed {
		fmt.Fprintf(c.stdout, "  not copied: %s\n", f)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox spool migrate: %v\n", err)
		return exitError
	}
	if len(r.failed) > 0 {
		return exitError
	}
	fmt.Fprintf(c.stdout, "done: set [spool] backend = \"postgres\" and postgres_url, then start the daemon\n")
	return exitOK
}

// migrateArgs parses --from bbolt DIR --to postgres URL, in either order.
func migrateArgs(args []string) (dir, url string, err error) {
	for len(args) > 0 {
		if len(args) < 3 {
			return "", "", fmt.Errorf("%q needs a backend and a location", args[0])
		}
		switch {
		case args[0] == "--from" && args[1] == "bbolt":
			dir = args[2]
		case args[0] == "--to" && args[1] == "postgres":
			url = args[2]
		case args[0] == "--from" || args[0] == "--to":
			return "", "", fmt.Errorf("%s %s: the only move is from bbolt to postgres", args[0], args[1])
		default:
			return "", "", fmt.Errorf("unexpected argument %q", args[0])
		}
		args = args[3:]
	}
	if dir == "" || url == "" {
		return "", "", errors.New("--from bbolt DIR and --to postgres URL are both required")
	}
	return dir, url, nil
}

type migrateReport struct {
	copied, present, bounces, quarantined, idem int
	events, suppressions                        int
	failed                                      []string
}

// copySpool copies every message of src, then its logs, into dst.
func copySpool(ctx context.Context, src *store.DB, dst *pgstore.DB) (migrateReport, error) {
	var r migrateReport
	f := store.Filter{Done: true, Limit: store.MaxListLimit}
	for {
		page, err := src.List(ctx, f)
		if err != nil {
			return r, err
		}
		for _, m := range page {
			if err := copyMessage(ctx, src, dst, m, &r); err != nil {
				if errors.Is(err, store.ErrCommit) || ctx.Err() != nil {
					return r, err
				}
				r.failed = append(r.failed, fmt.Sprintf("%s: %v", m.ID, err))
			}
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	bounces, err := src.Bounces(ctx, time.Time{})
	if err != nil {
		return r, err
	}
	quarantined, err := src.Quarantined(ctx)
	if err != nil {
		return r, err
	}
	idem, err := src.IdempotencyRecords(ctx)
	if err != nil {
		return r, err
	}
	if err := dst.ImportLogs(ctx, bounces, quarantined, idem); err != nil {
		return r, err
	}
	r.bounces, r.quarantined, r.idem = len(bounces), len(quarantined), len(idem)
	shared, err := readShared(ctx, src)
	if err != nil {
		return r, err
	}
	if err := dst.ImportShared(ctx, shared); err != nil {
		return r, err
	}
	r.events, r.suppressions = len(shared.Events), len(shared.Suppressions)
	return r, nil
}

// readShared reads what src keeps beside its messages and logs: the event
// log, the suppression list, the TLS memory and reports, the webhook
// cursors.
func readShared(ctx context.Context, src *store.DB) (pgstore.Shared, error) {
	s := pgstore.Shared{LastEventSeq: src.LastEventSeq()}
	for after := uint64(0); ; {
		page, err := src.Events(ctx, after, store.MaxEventsPage)
		if err != nil || len(page) == 0 {
			if err != nil {
				return s, err
			}
			break
		}
		s.Events = append(s.Events, page...)
		after = page[len(page)-1].Seq
	}
	var err error
	if s.Suppressions, err = src.Suppressions(ctx, "", 0); err != nil {
		return s, err
	}
	if s.TLSLevels, err = src.TLSLevels(ctx); err != nil {
		return s, err
	}
	if s.TLSReports, err = src.TLSReports(ctx, "9999-12-31"); err != nil {
		return s, err
	}
	s.Cursors, err = src.WebhookCursors(ctx)
	return s, err
}

func copyMessage(ctx context.Context, src *store.DB, dst *pgstore.DB, m *store.Message, r *migrateReport) error {
	rc, err := src.OpenBody(ctx, m.ID)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	stored, err := dst.Import(ctx, m, body)
	if err != nil {
		return err
	}
	if stored {
		r.copied++
	} else {
		r.present++
	}
	return nil
}
