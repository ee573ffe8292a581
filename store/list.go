package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Page sizes for List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Filter selects messages for List.
type Filter struct {
	State  State  // 0: any; else messages with at least one recipient in State
	Domain string // "": any; else messages with a recipient in Domain (compared as Domain does)
	After  string // cursor: list IDs after this one (the last ID of the previous page)
	Limit  int    // 0: DefaultListLimit; capped at MaxListLimit
	Done   bool   // include messages whose recipients are all final

	// Sender: "": any; else messages whose envelope sender is Sender
	// (case-insensitive; "<>" selects the null sender).
	Sender string
	// Recipient: "": any; else messages with the recipient Recipient
	// (case-insensitive), subject to State and Domain like them.
	Recipient string
	// ReceivedBefore and ReceivedAfter bound the acceptance time; the
	// zero time is no bound.
	ReceivedBefore time.Time
	ReceivedAfter  time.Time
}

// Match reports whether m is selected by f's conditions (not by the paging
// fields). Fakes of the store use it to filter as List does.
func (f *Filter) Match(m *Message) bool {
	if !f.Done && m.Done() {
		return false
	}
	if !f.matchEnvelope(m) {
		return false
	}
	if f.State == 0 && f.Domain == "" && f.Recipient == "" {
		return true
	}
	domain := NormalizeDomain(f.Domain)
	for _, r := range m.Recipients {
		if f.State != 0 && r.State != f.State {
			continue
		}
		if f.Domain != "" && Domain(r.Addr) != domain {
			continue
		}
		if f.Recipient != "" && !strings.EqualFold(r.Addr, f.Recipient) {
			continue
		}
		return true
	}
	return false
}

// matchEnvelope checks the message-wide conditions: sender and age.
func (f *Filter) matchEnvelope(m *Message) bool {
	if f.Sender != "" {
		want := f.Sender
		if want == "<>" {
			want = ""
		}
		if !strings.EqualFold(m.From, want) {
			return false
		}
	}
	if !f.ReceivedBefore.IsZero() && !m.Received.Before(f.ReceivedBefore) {
		return false
	}
	if !f.ReceivedAfter.IsZero() && !m.Received.After(f.ReceivedAfter) {
		return false
	}
	return true
}

// List returns messages matching f in ID order (arrival order). Pass the
// last ID of a page as f.After to get the next one. The State, Domain and
// Recipient conditions apply to the same recipient. Corrupt records met on the way
// are quarantined and skipped.
func (db *DB) List(ctx context.Context, f Filter) ([]*Message, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	var out []*Message
	corrupt := map[string]error{}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bucketMsgs).Cursor()
		k, v := c.First()
		if f.After != "" {
			k, v = c.Seek([]byte(f.After))
			if k != nil && string(k) == f.After {
				k, v = c.Next()
			}
		}
		for n := 0; k != nil && len(out) < limit; k, v = c.Next() {
			if n++; n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			m, err := DecodeMessage(v)
			if err != nil {
				corrupt[string(k)] = err
				continue
			}
			m.ID = string(k)
			if f.Match(m) {
				out = append(out, m)
			}
		}
		return nil
	})
	for id, cerr := range corrupt {
		db.quarantine(ctx, id, cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	return out, nil
}
