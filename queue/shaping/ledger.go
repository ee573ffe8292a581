package shaping

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Ledger keeps the part of the budgets that several nodes sending to the
// same destinations must agree on (Shared): each budget's rate slots,
// adaptive slow-down and suspension, as an opaque record, and the
// connections every node holds to it, each a slot with an owner and an
// expiry the ledger renews while its node lives. *pgstore.Budgets
// implements it in PostgreSQL.
//
// Times given to the callbacks are the ledger's clock (the database's), so
// that the nodes' deadlines agree whatever their own clocks say; Shared
// converts them to the caller's clock as offsets.
type Ledger interface {
	// Update runs fn on key's record (nil at first) and on the
	// reservation record of message id for key (nil when none; id ""
	// has none), with the ledger's clock and the number of live
	// connection slots of key, while every other Update of key waits.
	// A non-nil out is stored as key's record; outResv replaces the
	// reservation (nil deletes it); take adds a connection slot for this
	// node, whose id is returned. All in one transaction: an error of fn
	// is returned and nothing is stored.
	Update(ctx context.Context, key, id string, fn func(rec, resv []byte, now time.Time, conns int) (out, outResv []byte, take bool, err error)) (slot int64, err error)
	// Release gives back a connection slot Update took.
	Release(ctx context.Context, slot int64) error
	// Get reads key's record, message id's reservation for it and key's
	// live connections, without a lock (nil records when none).
	Get(ctx context.Context, key, id string) (rec, resv []byte, now time.Time, conns int, err error)
	// List calls fn for every budget with a record or a live connection,
	// with the number of its reservations.
	List(ctx context.Context, fn func(now time.Time, key string, rec []byte, conns, reserved int)) error
}

// RecordlessLedger is a Ledger that can tell, without a round trip,
// that a budget has no record (Get would return a nil or empty one). It
// may be behind the ledger by a moment (another node's first write to
// the budget, in *pgstore.Budgets a notification's latency) but never
// claims a budget recordless while it cannot know. Shared uses it to
// admit to a budget with no configured limit, and no record (no reply
// slowed or suspended it), without reading the ledger.
type RecordlessLedger interface {
	Ledger
	Recordless(key string) bool
}

// record is the shared state of one budget as a Ledger stores it (JSON):
// destState's fields that every node must see.
type record struct {
	Minute   time.Time `json:"minute,omitzero"` // GCRA tats
	Hour     time.Time `json:"hour,omitzero"`
	Adapt    time.Time `json:"adapt,omitzero"`
	Factor   float64   `json:"factor,omitempty"`
	Base     float64   `json:"base,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Changed  time.Time `json:"changed,omitzero"`
	LastDrop time.Time `json:"last_drop,omitzero"`
	Reply    string    `json:"reply,omitempty"`
	Reaction string    `json:"reaction,omitempty"`
	Gen      uint64    `json:"gen,omitempty"`

	SuspUntil time.Time `json:"susp_until,omitzero"`
	SuspSince time.Time `json:"susp_since,omitzero"`
	SuspReply string    `json:"susp_reply,omitempty"`
	SuspBy    string    `json:"susp_by,omitempty"`

	WinStart  time.Time `json:"win_start,omitzero"`
	Cur, Prev int       `json:",omitempty"`
}

// decodeState is the destState of d kept in rec, with conns connections
// in flight (every node's).
func decodeState(d Dest, rec []byte, conns int) (*destState, error) {
	st := &destState{dest: d, inflight: conns}
	if len(rec) == 0 {
		return st, nil
	}
	var r record
	if err := json.Unmarshal(rec, &r); err != nil {
		return nil, fmt.Errorf("shaping: budget %s: %w", d.Key, err)
	}
	st.minute.tat, st.hour.tat = r.Minute, r.Hour
	st.adapt = adaptive{factor: r.Factor, base: r.Base, since: r.Since, changed: r.Changed,
		lastDrop: r.LastDrop, reply: r.Reply, reaction: r.Reaction, g: gcra{tat: r.Adapt}}
	st.gen = r.Gen
	st.suspUntil, st.suspSince, st.suspReply, st.suspBy = r.SuspUntil, r.SuspSince, r.SuspReply, r.SuspBy
	st.winStart, st.cur, st.prev = r.WinStart, r.Cur, r.Prev
	return st, nil
}

// encode is st's shared part as a record.
func (st *destState) encode() []byte {
	a := &st.adapt
	b, _ := json.Marshal(record{Minute: st.minute.tat, Hour: st.hour.tat, Adapt: a.g.tat,
		Factor: a.factor, Base: a.base, Since: a.since, Changed: a.changed, LastDrop: a.lastDrop,
		Reply: a.reply, Reaction: a.reaction, Gen: st.gen,
		SuspUntil: st.suspUntil, SuspSince: st.suspSince, SuspReply: st.suspReply, SuspBy: st.suspBy,
		WinStart: st.winStart, Cur: st.cur, Prev: st.prev})
	return b
}

// resRecord is a rate slot reserved for one message (reservation) as a
// Ledger stores it, in the ledger's clock.
type resRecord struct {
	At   time.Time `json:"at"`
	Gen  uint64    `json:"gen,omitempty"`
	Wait Wait      `json:"wait"`
}

func decodeReservation(b []byte) (resRecord, bool) {
	var r resRecord
	if len(b) == 0 || json.Unmarshal(b, &r) != nil {
		return resRecord{}, false
	}
	return r, true
}

func (r resRecord) encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// MemoryLedger is a Ledger in this process's memory: Shared over it
// behaves as one node alone. Tests use it; a single node uses Shaper.
type MemoryLedger struct {
	mu    sync.Mutex
	recs  map[string][]byte
	resv  map[resKey][]byte
	slots map[int64]string
	next  int64
	// Fail, when set, is returned by every call (a database that is
	// away).
	Fail error
	now  func() time.Time
}

// NewMemoryLedger returns an empty MemoryLedger on the clock now (the
// ledger's own, as a database's would be); nil: time.Now.
func NewMemoryLedger(now func() time.Time) *MemoryLedger {
	if now == nil {
		now = time.Now
	}
	return &MemoryLedger{recs: map[string][]byte{}, resv: map[resKey][]byte{}, slots: map[int64]string{}, now: now}
}

func (m *MemoryLedger) conns(key string) int {
	n := 0
	for _, k := range m.slots {
		if k == key {
			n++
		}
	}
	return n
}

// Update implements Ledger.
func (m *MemoryLedger) Update(_ context.Context, key, id string, fn func(rec, resv []byte, now time.Time, conns int) ([]byte, []byte, bool, error)) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return 0, m.Fail
	}
	rk := resKey{id, key}
	out, outResv, take, err := fn(m.recs[key], m.resv[rk], m.now(), m.conns(key))
	if err != nil {
		return 0, err
	}
	if out != nil {
		m.recs[key] = out
	}
	if outResv == nil {
		delete(m.resv, rk)
	} else if id != "" {
		m.resv[rk] = outResv
	}
	if !take {
		return 0, nil
	}
	m.next++
	m.slots[m.next] = key
	return m.next, nil
}

// Release implements Ledger.
func (m *MemoryLedger) Release(_ context.Context, slot int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	delete(m.slots, slot)
	return nil
}

// Get implements Ledger.
func (m *MemoryLedger) Get(_ context.Context, key, id string) ([]byte, []byte, time.Time, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return nil, nil, time.Time{}, 0, m.Fail
	}
	return m.recs[key], m.resv[resKey{id, key}], m.now(), m.conns(key), nil
}

// List implements Ledger.
func (m *MemoryLedger) List(_ context.Context, fn func(time.Time, string, []byte, int, int)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	now := m.now()
	for k, r := range m.recs {
		n := 0
		for rk := range m.resv {
			if rk.key == k {
				n++
			}
		}
		fn(now, k, r, m.conns(k), n)
	}
	return nil
}
