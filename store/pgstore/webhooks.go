package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// Webhook cursors (table webhook_cursors, the JSON of store.WebhookCursor
// by endpoint name) and the event log as webhooks read it.

// WebhookCursor returns the record of endpoint; ok is false when there is
// none (an endpoint never seen before).
func (db *DB) WebhookCursor(ctx context.Context, endpoint string) (c store.WebhookCursor, ok bool, err error) {
	var v []byte
	err = db.pool.QueryRow(ctx, `SELECT cursor FROM webhook_cursors WHERE endpoint = $1`, endpoint).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, classify(err)
	}
	c, err = decodeCursor(endpoint, v)
	return c, err == nil, err
}

func decodeCursor(endpoint string, v []byte) (store.WebhookCursor, error) {
	var c store.WebhookCursor
	if err := json.Unmarshal(v, &c); err != nil {
		return c, fmt.Errorf("pgstore: webhook cursor %q: %w", endpoint, err)
	}
	c.Endpoint = endpoint
	return c, nil
}

// WebhookCursors returns every endpoint's record, by name.
func (db *DB) WebhookCursors(ctx context.Context) ([]store.WebhookCursor, error) {
	rows, err := db.pool.Query(ctx, `SELECT endpoint, cursor FROM webhook_cursors ORDER BY endpoint`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []store.WebhookCursor
	for rows.Next() {
		var name string
		var v []byte
		if err := rows.Scan(&name, &v); err != nil {
			return nil, classify(err)
		}
		c, err := decodeCursor(name, v)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, classify(rows.Err())
}

// PutWebhookCursor commits c. Updated is set to now when zero.
func (db *DB) PutWebhookCursor(ctx context.Context, c store.WebhookCursor) error {
	if err := store.CheckWebhookCursor(&c); err != nil {
		return err
	}
	if c.Updated.IsZero() {
		c.Updated = db.now()
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("pgstore: webhook cursor %q: %w", c.Endpoint, err)
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO webhook_cursors (endpoint, cursor) VALUES ($1, $2)
			ON CONFLICT (endpoint) DO UPDATE SET cursor = excluded.cursor`, c.Endpoint, v)
		return err
	})
}

// EventsJSON is Events without decoding the events: webhooks pass the
// JSON on as kept. A row that does not read is logged and skipped.
func (db *DB) EventsJSON(ctx context.Context, after uint64, limit int) ([]store.EventJSON, error) {
	var out []store.EventJSON
	err := db.readEvents(ctx, after, limit, func(seq int64, _ string, js []byte) {
		e, err := store.MakeEventJSON(uint64(seq), numbered(js, seq))
		if err != nil {
			db.log.Warn("skipping corrupt event", "seq", seq, "err", err)
			return
		}
		out = append(out, e)
	})
	return out, err
}

// numbered is the JSON of an event as stored (written before it had a
// number: "seq":0) with its number: the JSON Events would encode. Seq is
// the first field of store.Event, so the number is spliced in; JSON of
// another shape is decoded and encoded again.
func numbered(js []byte, seq int64) []byte {
	const unnumbered = `{"seq":0,`
	if bytes.HasPrefix(js, []byte(unnumbered)) {
		return append(append([]byte(`{"seq":`), strconv.FormatInt(seq, 10)+","...), js[len(unnumbered):]...)
	}
	var e store.Event
	if json.Unmarshal(js, &e) != nil {
		return js
	}
	e.Seq = uint64(seq)
	if out, err := json.Marshal(&e); err == nil {
		return out
	}
	return js
}
